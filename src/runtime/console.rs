//! The terminal of a foreground `run` whose process wants one and whose caller passed no
//! `--console-socket`: like runc, obsbox receives the pty master itself and connects it to
//! its own stdin and stdout (stdin in raw mode while it is a terminal).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::{Context as _, Result, bail};
use nix::sys::termios::{self, SetArg, Termios};

/// A console socket we listen on ourselves; libcontainer sends the pty master to it. The
/// socket file is removed when this is dropped, whether or not a master arrived.
pub struct OwnConsole {
    path: PathBuf,
    listener: UnixListener,
}

impl Drop for OwnConsole {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl OwnConsole {
    /// Listens on `path` (which must not exist). The master is accepted by [`Self::attach`],
    /// after the container was created: no thread may run while libcontainer forks (see
    /// [`super::creator`]), and the kernel queues the connection until then.
    pub fn listen(path: &Path) -> Result<OwnConsole> {
        let listener = UnixListener::bind(path)
            .with_context(|| format!("console socket {}", path.display()))?;
        Ok(OwnConsole {
            path: path.to_path_buf(),
            listener,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the pty master and starts copying between it and our stdio.
    pub fn attach(self) -> Result<Attached> {
        let master = receive_master(&self.listener)?;
        let saved = raw_stdin();
        let input = master.try_clone()?;
        // stdin -> pty; this thread ends with the process (it blocks on our stdin).
        super::foreground::spawn_deaf(move || {
            let _ = io::copy(&mut io::stdin(), &mut File::from(input));
        });
        let output = super::foreground::spawn_deaf(move || {
            // EIO once the last process holding the pty's other side exits.
            let _ = io::copy(&mut File::from(master), &mut io::stdout());
        });
        Ok(Attached {
            saved,
            output: Some(output),
        })
    }
}

/// The running copy; dropping it waits for the output to drain and restores the terminal.
pub struct Attached {
    saved: Option<Termios>,
    output: Option<JoinHandle<()>>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        if let Some(output) = self.output.take() {
            let _ = output.join();
        }
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

fn raw_stdin() -> Option<Termios> {
    let stdin = io::stdin();
    let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
    let mut raw = saved.clone();
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
    Some(saved)
}

fn receive_master(listener: &UnixListener) -> Result<OwnedFd> {
    let (stream, _) = listener.accept().context("console socket: accept")?;
    if let Some(fd) = crate::sys::net::recv_fd(stream.as_fd(), "console socket")? {
        return Ok(fd);
    }
    bail!("console socket: no pty master received")
}
