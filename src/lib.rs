//! @pidea/workflow-infra: the PIDEA workflow persistence layer as a Node.js addon.
//!
//! [`core`] holds the database layer and knows nothing of napi; `binding` holds one file per
//! JavaScript class and only converts arguments and results.

#![deny(clippy::all)]

pub mod core;

// Not in unit-test builds: test executables cannot link Node's symbols.
#[cfg(all(feature = "node", not(test)))]
mod binding;
