//! Verified image streaming: manifest (signed), BLAKE3-verified chunks, first MiB last, resume by Range. (Issue 4.)
