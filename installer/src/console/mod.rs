//! The console screen the installer shows as PID 1. (Issue 4.)
