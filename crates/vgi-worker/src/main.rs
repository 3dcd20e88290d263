//! `vgi-worker` as shipped: the functions of `vgi-functions`, no test fixture.

fn main() {
    vgi_worker::main(vgi_functions::all());
}
