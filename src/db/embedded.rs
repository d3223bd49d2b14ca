//! A private Postgres cluster under the data directory, for machines that have the Postgres
//! binaries but no running server.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Where `initdb` and `pg_ctl` live.
#[derive(Debug, Clone)]
pub struct Binaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
}

/// Finds `initdb` and `pg_ctl` on PATH, or in Debian's `/usr/lib/postgresql/<ver>/bin`
/// (newest version first), where they are not on PATH.
pub fn find_binaries() -> Option<Binaries> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
            .collect();
        versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
        dirs.extend(versions.into_iter().map(|(_, dir)| dir));
    }
    dirs.into_iter().find_map(|dir| {
        let (initdb, pg_ctl) = (dir.join("initdb"), dir.join("pg_ctl"));
        (initdb.is_file() && pg_ctl.is_file()).then_some(Binaries { initdb, pg_ctl })
    })
}

/// A running private cluster; stop it with [`EmbeddedPostgres::stop`].
#[derive(Debug)]
pub struct EmbeddedPostgres {
    binaries: Binaries,
    data: PathBuf,
    port: u16,
    run_as: Option<(u32, u32)>,
}

impl EmbeddedPostgres {
    /// Initialises (first time) and starts the cluster in `data`, or joins it if it already runs.
    pub async fn start(binaries: Binaries, data: &Path) -> anyhow::Result<Self> {
        let data = std::path::absolute(data).context("resolving the data directory")?;
        let data_for_task = data.clone();
        tokio::task::spawn_blocking(move || Self::start_blocking(binaries, data_for_task))
            .await
            .context("the start-up task panicked")?
            .with_context(|| format!("cluster in {}", data.display()))
    }

    fn start_blocking(binaries: Binaries, data: PathBuf) -> anyhow::Result<Self> {
        // Postgres refuses to run as root: hand the cluster to the `postgres` user.
        let run_as = if nix::unistd::Uid::effective().is_root() {
            let user = nix::unistd::User::from_name("postgres")?
                .context("running as root needs a `postgres` system user to own the cluster")?;
            Some((user.uid.as_raw(), user.gid.as_raw()))
        } else {
            None
        };
        let sockets = data.with_file_name("postgres-run");
        for dir in [&data, &sockets] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            if let Some((uid, gid)) = run_as {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
            }
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let mut cluster = Self {
            binaries,
            data,
            port: 0,
            run_as,
        };

        if !cluster.data.join("PG_VERSION").exists() {
            tracing::info!(dir = %cluster.data.display(), "initialising a private Postgres cluster");
            cluster.run(
                Command::new(&cluster.binaries.initdb)
                    .arg("-D")
                    .arg(&cluster.data)
                    .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"]),
            )?;
        }
        if let Some(port) = cluster.running_port() {
            tracing::info!(port, "joining the private Postgres cluster already running");
            cluster.port = port;
            return Ok(cluster);
        }
        cluster.port = free_port()?;
        let log = cluster.data.join("server.log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            cluster.port,
            sockets.display()
        );
        cluster.run(
            Command::new(&cluster.binaries.pg_ctl)
                .arg("-D")
                .arg(&cluster.data)
                .arg("-l")
                .arg(&log)
                .args(["-o", &options, "-w", "start"]),
        )?;
        tracing::info!(port = cluster.port, dir = %cluster.data.display(), "private Postgres cluster started");
        Ok(cluster)
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the cluster (fast shutdown: open sessions are ended). `pg_ctl -w` waits for the
    /// server to exit, seconds at times, so it runs on a blocking thread, not an async worker.
    pub async fn stop(self) -> anyhow::Result<()> {
        tokio::task::spawn_blocking(move || {
            self.run(
                Command::new(&self.binaries.pg_ctl)
                    .arg("-D")
                    .arg(&self.data)
                    .args(["-m", "fast", "-w", "stop"]),
            )
        })
        .await
        .context("the task stopping the cluster panicked")?
    }

    /// Restarts the cluster on the same port (fast: open sessions are ended), as an operator's
    /// restart or a failover does to the service's connections.
    pub fn restart(&self) -> anyhow::Result<()> {
        // With a log file, the server does not hold on to our output pipes.
        self.run(
            Command::new(&self.binaries.pg_ctl)
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(self.data.join("server.log"))
                .args(["-m", "fast", "-w", "restart"]),
        )
    }

    /// The port of a postmaster already serving this data directory, if any.
    fn running_port(&self) -> Option<u16> {
        let status = self
            .command(
                Command::new(&self.binaries.pg_ctl)
                    .arg("-D")
                    .arg(&self.data)
                    .arg("status"),
            )
            .output()
            .ok()?;
        if !status.status.success() {
            return None;
        }
        // postmaster.pid: pid, data dir, start time, port, ...
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn command<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command.current_dir(&self.data)
    }

    fn run(&self, command: &mut Command) -> anyhow::Result<()> {
        let output = self
            .command(command)
            .output()
            .with_context(|| format!("running {:?}", command.get_program()))?;
        if !output.status.success() {
            bail!(
                "{:?} failed ({}): {}{}",
                command.get_program(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim(),
                String::from_utf8_lossy(&output.stdout).trim()
            );
        }
        Ok(())
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
