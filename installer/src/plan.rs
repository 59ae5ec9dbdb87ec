//! verdict + profile → install plan (pure). (Issue 4.)
