//! A minimal QMP client: negotiate capabilities, then run commands (`set_link`, `quit`). Hand-written
//! because we need two synchronous commands over a Unix socket; a full QAPI binding would be far
//! larger than this file.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    pub fn connect(socket: &Path) -> anyhow::Result<Qmp> {
        let stream = UnixStream::connect(socket).with_context(|| format!("connecting to QMP {}", socket.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let writer = stream.try_clone()?;
        let mut qmp = Qmp { reader: BufReader::new(stream), writer };
        let greeting = qmp.read()?;
        if greeting.get("QMP").is_none() {
            bail!("not a QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    fn read(&mut self) -> anyhow::Result<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            bail!("QMP socket closed");
        }
        Ok(serde_json::from_str(&line)?)
    }

    /// Run a command and return its `return` value; events arriving meanwhile are skipped.
    pub fn execute(&mut self, command: &str, arguments: Value) -> anyhow::Result<Value> {
        let request = json!({ "execute": command, "arguments": arguments });
        writeln!(self.writer, "{request}")?;
        loop {
            let reply = self.read()?;
            if let Some(value) = reply.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = reply.get("error") {
                bail!("QMP {command}: {error}");
            }
        }
    }

    /// Cut or restore a NIC's link, as pulling its cable would.
    pub fn set_link(&mut self, netdev: &str, up: bool) -> anyhow::Result<()> {
        self.execute("set_link", json!({ "name": netdev, "up": up })).map(drop)
    }
}
