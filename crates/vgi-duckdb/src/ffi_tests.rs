//! Unit tests of the Rust half of the C ABI (`ffi.rs`): Arrow C structs
//! handed in by hand, errors and panics at the boundary.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The C Data Interface's `ArrowSchema`, to hand-craft one.
#[repr(C)]
struct CSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut CSchema,
    dictionary: *mut CSchema,
    release: Option<unsafe extern "C" fn(*mut CSchema)>,
    private_data: *mut c_void,
}

/// The C Data Interface's `ArrowArray`.
#[repr(C)]
struct CArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut CArray,
    dictionary: *mut CArray,
    release: Option<unsafe extern "C" fn(*mut CArray)>,
    private_data: *mut c_void,
}

static RELEASED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn release_schema(schema: *mut CSchema) {
    RELEASED.fetch_add(1, Ordering::SeqCst);
    // SAFETY: called by the consumer on a schema made below.
    unsafe { (*schema).release = None };
}

unsafe extern "C" fn release_array(array: *mut CArray) {
    RELEASED.fetch_add(1, Ordering::SeqCst);
    // SAFETY: called by the consumer on an array made below.
    unsafe { (*array).release = None };
}

fn schema(format: &'static std::ffi::CStr) -> CSchema {
    CSchema {
        format: format.as_ptr(),
        name: c"".as_ptr(),
        metadata: std::ptr::null(),
        flags: 0,
        n_children: 0,
        children: std::ptr::null_mut(),
        dictionary: std::ptr::null_mut(),
        release: Some(release_schema),
        private_data: std::ptr::null_mut(),
    }
}

fn array() -> CArray {
    CArray {
        length: 1,
        null_count: 0,
        offset: 0,
        n_buffers: 1,
        n_children: 0,
        buffers: std::ptr::null_mut(),
        children: std::ptr::null_mut(),
        dictionary: std::ptr::null_mut(),
        release: Some(release_array),
        private_data: std::ptr::null_mut(),
    }
}

#[test]
fn bind_releases_every_struct_it_was_given_when_the_first_is_bad() {
    // Not a struct schema: reading the input schema fails first.
    let mut input = schema(c"not a format");
    let (mut args_schema, mut settings_schema) = (schema(c"+s"), schema(c"+s"));
    let (mut args, mut settings) = (array(), array());
    let mut out = FFI_ArrowSchema::empty();
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: five valid structs moved in; `f` is not reached.
    let call = unsafe {
        function_bind(
            std::ptr::null(),
            0,
            (&mut input as *mut CSchema).cast(),
            (&mut args_schema as *mut CSchema).cast(),
            (&mut args as *mut CArray).cast(),
            (&mut settings_schema as *mut CSchema).cast(),
            (&mut settings as *mut CArray).cast(),
            &mut out,
            &mut error,
        )
    };
    assert!(call.is_null() && !error.is_null());
    // SAFETY: set by `function_bind`.
    unsafe { vgi_error_free(error) };
    assert_eq!(
        RELEASED.load(Ordering::SeqCst),
        5,
        "every struct released once"
    );
}
