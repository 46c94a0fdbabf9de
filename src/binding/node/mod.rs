//! The Node-API machinery the classes are built on, and every `unsafe` block of the addon (each
//! with its `// SAFETY:` line): raw values ([`raw`]), conversions both ways ([`convert`],
//! [`input`], [`row_factory`]), references kept across calls ([`reference`]), loggers
//! ([`logger`]), promises settled from any thread ([`settle`]) with
//! the core's outcomes ([`deliver`]).

pub mod convert;
pub mod deliver;
pub mod input;
pub mod logger;
pub mod raw;
pub mod reference;
pub mod row_factory;
pub mod settle;
