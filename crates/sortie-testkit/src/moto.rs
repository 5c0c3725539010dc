//! A moto server (<https://github.com/getmoto/moto>, `moto_server`) on loopback for tests that talk
//! to the real AWS SDK, plus (feature `aws`) an SDK configuration pointed at it and an HTTP client
//! that injects recorded AWS error responses for the cases moto cannot express (spot capacity
//! refusals, throttling).
//!
//! One server per test binary ([`MotoServer::shared`]) keeps test time small; tests sharing it
//! isolate themselves by unique tags (an owner id per test). A watchdog shell kills the server when
//! the test process goes away, because a `static` is never dropped.
//!
//! moto is a Python package: when `moto_server` is missing the helper fails with a message saying
//! to run `pip install 'moto[server]'` — the tests never skip silently.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[cfg(feature = "aws")]
mod fault;
#[cfg(feature = "aws")]
mod serial;
#[cfg(feature = "aws")]
pub use fault::{ec2_error_body, Fault, FaultInjector};
#[cfg(feature = "aws")]
pub use serial::SerialClient;

/// How long a fresh moto server may take to answer (Python start-up on a busy 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a moto server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    /// The executable is not installed.
    #[error(
        "moto_server is not installed (or not on PATH): run `pip install 'moto[server]'` \
         (CI installs it); the EC2 acceptance tests need it and do not skip"
    )]
    NotInstalled,
    /// Spawning failed for another reason.
    #[error("could not start moto_server: {0}")]
    Spawn(std::io::Error),
    /// No free loopback port.
    #[error("could not find a free loopback port for moto_server: {0}")]
    Port(std::io::Error),
    /// It started but never answered.
    #[error("moto_server on 127.0.0.1:{port} did not answer within {secs} s; is Python working?")]
    NotReady {
        /// The port it was told to listen on.
        port: u16,
        /// How long we waited.
        secs: u64,
    },
}

/// A running moto server on 127.0.0.1; killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts a new server on a free loopback port and waits until it answers HTTP.
    pub fn start() -> Result<MotoServer, MotoError> {
        which_moto()?;
        let port = free_port()?;
        // The watchdog loop ends (and kills moto) when our process is gone, so a server held in a
        // `static` does not outlive the test binary.
        let script = format!(
            "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             trap 'kill $m 2>/dev/null' EXIT TERM INT; \
             while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done",
            parent = std::process::id()
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(MotoError::Spawn)?;
        let server = MotoServer { child, port };
        server.wait_ready()?;
        Ok(server)
    }

    /// The server shared by every test of this test binary, started on first use.
    ///
    /// # Panics
    /// When moto cannot be started: the panic message says what to install.
    pub fn shared() -> &'static MotoServer {
        static SHARED: OnceLock<MotoServer> = OnceLock::new();
        SHARED.get_or_init(|| MotoServer::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The endpoint URL for SDK clients, e.g. `http://127.0.0.1:5123`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&self) -> Result<(), MotoError> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if answers_http(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(MotoError::NotReady {
            port: self.port,
            secs: START_TIMEOUT.as_secs(),
        })
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Killing the watchdog shell runs its EXIT trap, which kills moto.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn which_moto() -> Result<(), MotoError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| dir.join("moto_server").is_file());
    if found {
        Ok(())
    } else {
        Err(MotoError::NotInstalled)
    }
}

fn free_port() -> Result<u16, MotoError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(MotoError::Port)?;
    let port = listener.local_addr().map_err(MotoError::Port)?.port();
    Ok(port)
}

/// True when something on the port answers an HTTP request with a status line.
fn answers_http(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    matches!(stream.read(&mut head), Ok(n) if n >= 5 && head.starts_with(b"HTTP/"))
}

#[cfg(feature = "aws")]
impl MotoServer {
    /// An SDK configuration for this server: dummy credentials, region `us-east-1`, the server's
    /// endpoint URL. Nothing leaves loopback.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        self.loader().load().await
    }

    /// Like [`MotoServer::sdk_config`] but every request goes through `faults` first.
    pub async fn sdk_config_with_faults(&self, faults: &FaultInjector) -> aws_config::SdkConfig {
        self.loader().http_client(faults.clone()).load().await
    }

    /// Like [`MotoServer::sdk_config`] but one request at a time (see [`SerialClient`]): for
    /// tests whose code under test calls moto concurrently.
    pub async fn serial_sdk_config(&self) -> aws_config::SdkConfig {
        use aws_smithy_runtime_api::client::http::SharedHttpClient;
        let passthrough = SharedHttpClient::new(FaultInjector::new());
        // A request waiting its turn sends no bytes; the SDK's stalled-stream protection would
        // call that a stall after a few seconds on a busy machine.
        self.loader()
            .http_client(SerialClient::new(passthrough))
            .stalled_stream_protection(
                aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
            )
            .load()
            .await
    }

    fn loader(&self) -> aws_config::ConfigLoader {
        let creds =
            aws_credential_types::Credentials::new("testing", "testing", None, None, "moto");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(self.endpoint())
    }
}

/// What an EC2 launch needs in moto: a subnet (in `us-east-1a`), a security group and one of
/// moto's x86_64 AMIs.
#[cfg(feature = "aws")]
#[derive(Debug, Clone)]
pub struct Ec2Network {
    /// `subnet-…` in `us-east-1a`.
    pub subnet: String,
    /// `sg-…`.
    pub security_group: String,
    /// `ami-…` (x86_64).
    pub ami: String,
}

#[cfg(feature = "aws")]
impl Ec2Network {
    /// A new VPC with one subnet and a security group named after `name` (unique per test).
    pub async fn create(ec2: &aws_sdk_ec2::Client, name: &str) -> Ec2Network {
        use aws_sdk_ec2::types::Filter;
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.1.0.0/16")
            .send()
            .await
            .expect("moto CreateVpc");
        let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap_or_default();
        let subnet = ec2
            .create_subnet()
            .vpc_id(vpc_id)
            // A /20: moto gives each instance an address of the subnet and fails `CreateFleet`
            // with an empty 500 once a /24's 251 are used.
            .cidr_block("10.1.0.0/20")
            .availability_zone("us-east-1a")
            .send()
            .await
            .expect("moto CreateSubnet");
        let subnet = subnet
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap_or_default();
        let sg = ec2
            .create_security_group()
            .group_name(format!("sortie-{name}"))
            .description("runners")
            .vpc_id(vpc_id)
            .send()
            .await
            .expect("moto CreateSecurityGroup");
        let images = ec2
            .describe_images()
            .filters(
                Filter::builder()
                    .name("architecture")
                    .values("x86_64")
                    .build(),
            )
            .send()
            .await
            .expect("moto DescribeImages");
        Ec2Network {
            subnet: subnet.to_string(),
            security_group: sg.group_id().unwrap_or_default().to_string(),
            ami: images.images()[0]
                .image_id()
                .unwrap_or_default()
                .to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_moto_message_says_what_to_install() {
        let msg = MotoError::NotInstalled.to_string();
        assert!(msg.contains("pip install 'moto[server]'"), "{msg}");
    }

    #[test]
    fn nothing_listening_is_not_ready() {
        let port = free_port().expect("port");
        assert!(!answers_http(port));
    }
}
