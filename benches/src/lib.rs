//! Home of wbots' benchmarks and end-to-end load harness. Not built yet: the benchmark
//! issue (criterion micro benchmarks, the load harness against a bare relay, and
//! `BENCHMARKS.md`) is still open; this crate only reserves the place in the workspace.
