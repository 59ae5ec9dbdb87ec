//! Talking to the boot service: inventory, progress events, ready/failed, with retries. (Issue 4.)
