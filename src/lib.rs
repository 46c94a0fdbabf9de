//! @pidea/workflow-infra: the PIDEA workflow persistence layer as a Node.js addon.
//!
//! [`core`] knows SQL and nothing of napi, and owns every call from start to finish (see
//! [`core::exec`]); `binding` holds one file per JavaScript class, each method read the
//! arguments → submit → settle, over the Node-API machinery in `binding/node/`.

#![deny(clippy::all)]

pub mod core;

// Not in unit-test builds: test executables cannot link Node's symbols.
#[cfg(all(feature = "node", not(test)))]
mod binding;
