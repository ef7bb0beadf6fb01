//! Criterion benchmarks of switchboard's hot paths; the benchmarks live in `benches/`.
