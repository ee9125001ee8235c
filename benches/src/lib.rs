//! Benchmarks and the end-to-end load harness of wbots; see `BENCHMARKS.md`.
