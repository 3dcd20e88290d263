//! Execution in workers: the bind and the lifecycle of each query run in a
//! pool of `vgi-worker` processes (`SET vgi_execution = 'subprocess'`), or
//! in the HTTP workers of `vgi_worker_urls` with the state in object storage
//! (`SET vgi_execution = 'remote'`), instead of in DuckDB's process.

mod client;
mod gather;
mod http;
mod pool;
mod remote;
mod remote_store;
mod shared;

use std::sync::Arc;
use std::time::Duration;

use pool::Endpoint;
pub(crate) use pool::{Pool, WorkerConfig};
pub(crate) use remote::{Remote, RemoteBind};

use crate::s3_secret::S3Secret;
use vgi::store::BufferingStore;
use vgi::{Error, Result, Settings};

/// `in_process` (the default), `subprocess` or `remote`.
pub const EXECUTION_SETTING: &str = "vgi_execution";
/// The base URLs of the HTTP workers of remote execution, comma-separated.
pub const WORKER_URLS_SETTING: &str = "vgi_worker_urls";
/// Where remote execution keeps its state: `s3://bucket/prefix`, the
/// `--store` of the workers.
pub const STORE_URL_SETTING: &str = "vgi_store_url";
/// Workers kept ready in the pool.
pub const WORKERS_SETTING: &str = "vgi_workers";
/// Seconds a worker may take to answer one call before it is killed.
pub const TIMEOUT_SETTING: &str = "vgi_worker_timeout_seconds";
/// The worker's command line; empty: `vgi-worker` beside the extension file.
pub const COMMAND_SETTING: &str = "vgi_worker_command";
/// Whether large batches cross to and from workers in shared memory.
pub const SHARED_MEMORY_SETTING: &str = "vgi_worker_shared_memory";

/// Where a call runs (`vgi_execution`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    InProcess,
    Subprocess,
    Remote,
}

/// The execution mode `settings` ask for.
pub(crate) fn execution_mode(settings: &Settings) -> Result<Mode> {
    match settings.get(EXECUTION_SETTING).unwrap_or("in_process") {
        "in_process" => Ok(Mode::InProcess),
        "subprocess" => Ok(Mode::Subprocess),
        "remote" => Ok(Mode::Remote),
        other => Err(Error::InvalidArgument(format!(
            "{EXECUTION_SETTING} must be 'in_process', 'subprocess' or 'remote', got '{other}'"
        ))),
    }
}

/// The store a call keeps its state in: in remote execution the object
/// storage of `vgi_store_url`, reached with `secret` (DuckDB's s3 secret
/// for that URL) or else the `AWS_*` environment variables; else `local`,
/// the store of the extension's functions.
pub(crate) fn store_for(
    settings: &Settings,
    secret: Option<&S3Secret>,
    local: &std::result::Result<Arc<BufferingStore>, String>,
) -> Result<Arc<BufferingStore>> {
    if execution_mode(settings)? == Mode::Remote {
        let options = remote_store::s3_options(secret)?;
        return remote_store::remote_store(settings, &options);
    }
    local.clone().map_err(Error::InvalidArgument)
}

/// The worker pool to run a call with, or `None` for in-process execution.
/// Without `external_access` (DuckDB's `enable_external_access = false`)
/// only the `vgi-worker` beside the extension may be started, and no
/// remote worker contacted.
pub(crate) fn pool_for(
    settings: &Settings,
    store: &BufferingStore,
    external_access: bool,
) -> Result<Option<Arc<Pool>>> {
    let mode = execution_mode(settings)?;
    if mode == Mode::InProcess {
        return Ok(None);
    }
    let timeout = settings.get_i64(TIMEOUT_SETTING)?.unwrap_or(60);
    if timeout < 0 {
        return Err(Error::InvalidArgument(format!(
            "{TIMEOUT_SETTING} must be >= 0, got {timeout}"
        )));
    }
    let timeout = (timeout > 0).then(|| Duration::from_secs(timeout.unsigned_abs()));
    if mode == Mode::Remote {
        check_settings(settings, external_access)?;
        let urls = worker_urls(settings)?;
        return Pool::get(WorkerConfig {
            size: urls.len(),
            endpoint: Endpoint::Urls(urls),
            timeout,
            shared_memory: false,
        })
        .map(Some);
    }
    let size = settings.get_i64(WORKERS_SETTING)?.unwrap_or(2);
    if size < 1 {
        return Err(Error::InvalidArgument(format!(
            "{WORKERS_SETTING} must be at least 1, got {size}"
        )));
    }
    let worker = match configured_command(settings, external_access)? {
        Some(command) => command,
        None => vec![beside_extension("vgi-worker")?],
    };
    check_executable(&worker[0])?;
    // The workers use this process's store (the same TMPDIR), set by `env`
    // from its fixed place (never looked up in PATH).
    let parent = store
        .root()
        .parent()
        .ok_or_else(|| Error::InvalidArgument("the store root has no parent".into()))?;
    let mut command = match ENV_PROGRAMS
        .iter()
        .find(|p| std::path::Path::new(p).is_file())
    {
        Some(env) => vec![env.to_string(), format!("TMPDIR={}", parent.display())],
        None => {
            return Err(Error::InvalidArgument(format!(
                "cannot start the worker: none of {} exists",
                ENV_PROGRAMS.join(", ")
            )))
        }
    };
    command.extend(worker);
    Pool::get(WorkerConfig {
        endpoint: Endpoint::Command(command),
        timeout,
        size: usize::try_from(size).unwrap_or(usize::MAX),
        shared_memory: settings.get_bool(SHARED_MEMORY_SETTING)?.unwrap_or(true),
    })
    .map(Some)
}

/// Refuses, while external access is disabled, a `vgi_worker_command` and
/// remote execution (it contacts other machines); and `vgi_worker_urls`
/// that remote execution cannot use, before anything is contacted.
pub(crate) fn check_settings(settings: &Settings, external_access: bool) -> Result<()> {
    if execution_mode(settings)? == Mode::Remote {
        if !external_access {
            return Err(Error::InvalidArgument(format!(
                "{EXECUTION_SETTING} = 'remote' contacts the workers of {WORKER_URLS_SETTING}, but \
                 enable_external_access is false"
            )));
        }
        worker_urls(settings)?;
    }
    configured_command(settings, external_access).map(drop)
}

/// The base URLs of `vgi_worker_urls`: comma-separated, each `http://` or
/// `https://`, at least one.
fn worker_urls(settings: &Settings) -> Result<Vec<String>> {
    let listed = settings.get(WORKER_URLS_SETTING).unwrap_or("");
    let urls: Vec<String> = listed
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| url.trim_end_matches('/').to_string())
        .collect();
    if urls.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{EXECUTION_SETTING} = 'remote' needs {WORKER_URLS_SETTING}: the base URLs of the \
             workers, e.g. 'http://10.0.0.5:8101,http://10.0.0.6:8101'"
        )));
    }
    if let Some(bad) = urls
        .iter()
        .find(|url| !(url.starts_with("http://") || url.starts_with("https://")))
    {
        return Err(Error::InvalidArgument(format!(
            "{WORKER_URLS_SETTING}: expected http:// or https:// URLs, got '{bad}'"
        )));
    }
    Ok(urls)
}

/// Where `env` is looked for.
const ENV_PROGRAMS: [&str; 2] = ["/usr/bin/env", "/bin/env"];

/// The worker command line of `vgi_worker_command`, split into words like a
/// POSIX shell would (quotes and backslashes, no expansion; it never runs
/// through a shell), or `None` when it is empty. A command is refused
/// without `external_access`.
fn configured_command(settings: &Settings, external_access: bool) -> Result<Option<Vec<String>>> {
    let Some(command) = settings
        .get(COMMAND_SETTING)
        .filter(|c| !c.trim().is_empty())
    else {
        return Ok(None);
    };
    if !external_access {
        return Err(Error::InvalidArgument(format!(
            "{COMMAND_SETTING} is set, but enable_external_access is false: only the vgi-worker \
             beside the extension may be started (RESET {COMMAND_SETTING})"
        )));
    }
    let words = shlex::split(command).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{COMMAND_SETTING} is not a valid command line (an unclosed quote or a trailing \
             backslash): {command}"
        ))
    })?;
    Ok((!words.is_empty()).then_some(words))
}

/// Fails early, with the path, when the worker program cannot be started
/// (it is exec'd behind `env`, which would only report it on stderr).
fn check_executable(program: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let candidates: Vec<std::path::PathBuf> = if program.contains('/') {
        vec![program.into()]
    } else {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join(program))
            .collect()
    };
    let runnable = candidates.iter().any(|path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    });
    if runnable {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "cannot start the worker: no executable {program} (see {COMMAND_SETTING})"
        )))
    }
}

/// The path of `name` in the directory of the loaded extension file.
fn beside_extension(name: &str) -> Result<String> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr reads the address of a function of this library.
    let found = unsafe { libc::dladdr(beside_extension as *const libc::c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return Err(Error::InvalidArgument(format!(
            "cannot locate the extension file to find {name}: set {COMMAND_SETTING}"
        )));
    }
    // SAFETY: dladdr returned a NUL-terminated path.
    let path = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = std::path::Path::new(std::str::from_utf8(path.to_bytes()).map_err(|_| {
        Error::InvalidArgument(format!(
            "the extension path is not UTF-8: set {COMMAND_SETTING}"
        ))
    })?);
    let worker = path.with_file_name(name);
    if !worker.exists() {
        return Err(Error::InvalidArgument(format!(
            "no worker at {}: build it (make) or set {COMMAND_SETTING}",
            worker.display()
        )));
    }
    Ok(worker.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_command(command: &str) -> Settings {
        Settings::new().with(COMMAND_SETTING, command)
    }

    #[test]
    fn the_command_is_split_like_a_shell_and_never_run_by_one() {
        let words = |c: &str| configured_command(&with_command(c), true).unwrap();
        assert_eq!(words(""), None);
        assert_eq!(words("   "), None);
        assert_eq!(
            words(r#"/opt/my worker --name 'a b' "c \"d\"" e\ f"#).unwrap(),
            ["/opt/my", "worker", "--name", "a b", r#"c "d""#, "e f"]
        );
        // Shell syntax is plain text: no substitution, no second command.
        assert_eq!(
            words("vgi-worker; touch /tmp/x $(id) `id`").unwrap(),
            ["vgi-worker;", "touch", "/tmp/x", "$(id)", "`id`"]
        );
        let err = configured_command(&with_command("worker 'open"), true).unwrap_err();
        assert!(err.to_string().contains(COMMAND_SETTING), "{err}");
    }

    #[test]
    fn without_external_access_no_command_may_be_set() {
        let err = configured_command(&with_command("touch /tmp/x"), false).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(COMMAND_SETTING) && message.contains("enable_external_access"),
            "{message}"
        );
        assert_eq!(configured_command(&with_command(""), false).unwrap(), None);
        assert_eq!(configured_command(&Settings::new(), false).unwrap(), None);
        let (_dir, store) = vgi::store::test_store();
        let settings = with_command("touch /tmp/x").with(EXECUTION_SETTING, "subprocess");
        let err = pool_for(&settings, &store, false).err().expect("refused");
        assert!(err.to_string().contains("enable_external_access"), "{err}");
    }
}
