//! The napi binding: one file per JavaScript class; conversion and promise plumbing only.

mod database;
mod errors;
mod js;
mod settle;

#[napi_derive::module_init]
fn init() {
    crate::core::logging::init();
}
