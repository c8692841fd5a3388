//! denovo-sim
