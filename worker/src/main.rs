//! `vgi-worker`: the vgi functions served over stdin/stdout to a VGI client
//! (the vgi extension's subprocess execution, or any client of protocol
//! `vgi.v2`). State goes to the store under `$TMPDIR`, shared with the
//! client and the other workers of the pool.

fn main() {
    if let Err(e) = vgi::worker::serve_stdio(vgi::functions::all()) {
        eprintln!("vgi-worker: {e}");
        std::process::exit(1);
    }
}
