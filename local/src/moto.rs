//! `onecount local --start-moto`: moto from the project's venv, on a free loopback port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A moto process; stopped when dropped.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// The moto process's id (fault tests stop and continue it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn project_root() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        if dir.join("scripts/moto_server.py").is_file() {
            return Some(dir);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Start moto with the launcher in `scripts/` and the venv `scripts/moto.sh setup` made.
pub fn start() -> Result<Moto> {
    let root = project_root()
        .context("run this inside the onecount checkout (scripts/moto_server.py not found)")?;
    let python = std::env::var_os("ONECOUNT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv"))
        .join("bin/python");
    if !Path::new(&python).is_file() {
        bail!(
            "no moto venv at {}: run `scripts/moto.sh setup` first",
            python.display()
        );
    }
    let port_file = std::env::temp_dir().join(format!("onecount-moto-{}.port", std::process::id()));
    let _ = std::fs::remove_file(&port_file);
    let child = Command::new(&python)
        .arg(root.join("scripts/moto_server.py"))
        .arg(&port_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting moto")?;
    let mut moto = Moto {
        endpoint: String::new(),
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(port) = std::fs::read_to_string(&port_file)
            && !port.trim().is_empty()
        {
            let _ = std::fs::remove_file(&port_file);
            moto.endpoint = format!("http://127.0.0.1:{}", port.trim());
            return Ok(moto);
        }
        if let Ok(Some(status)) = moto.child.try_wait() {
            bail!("moto exited at start ({status})");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("moto did not start within 30 s")
}
