//! The tests' `vgi-worker`: the shipped functions, then the test fixtures.

fn main() {
    let mut functions = vgi_functions::all();
    functions.extend(vgi_fixtures::all());
    vgi_worker::main(functions);
}
