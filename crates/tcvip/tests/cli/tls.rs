//! The API over TLS: fake-vpc's certificate is made at start and signed by its own CA; the
//! client trusts that CA only through `ca_file` (`cloud.ca_file`), as behind a TLS-inspecting
//! proxy.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use fake_vpc::{FakeVpc, FakeVpcHandle, Options, Topology};
use tencent_api::credentials::{Credentials, StaticCredentials};
use tencent_api::vpc::DescribeNetworkInterfacesRequest;
use tencent_api::{Client, ClientConfig};

const TWO_NODES: &str = include_str!("../../../fake-vpc/examples/two-nodes.toml");
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 100);

fn start_tls() -> FakeVpcHandle {
    FakeVpc::start(
        Topology::from_toml_str(TWO_NODES).unwrap(),
        Options {
            tls_listen: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            ..Options::default()
        },
    )
    .unwrap()
}

fn client(h: &FakeVpcHandle, ca_file: Option<std::path::PathBuf>) -> Client {
    let creds = StaticCredentials::new(Credentials::new(
        "AKIDTCVIPDEMO00000000000000000000000",
        "tcvipDemoSecretKey00000000000000",
    ));
    let config = ClientConfig {
        ca_file,
        ..ClientConfig::vpc("ap-guangzhou")
            .with_endpoint(h.tls_url().unwrap().parse().unwrap())
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(5))
    };
    Client::new(config, Arc::new(creds)).unwrap()
}

fn describe(c: &Client) -> Result<usize, tencent_api::Error> {
    c.describe_network_interfaces(&DescribeNetworkInterfacesRequest::holder_of(
        "vpc-demo0001",
        VIP,
    ))
    .map(|r| r.network_interface_set.len())
}

#[test]
fn tls_with_ca_file_answers() {
    let h = start_tls();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, h.ca_pem().unwrap()).unwrap();
    let c = client(&h, Some(ca));
    assert_eq!(describe(&c).unwrap(), 1, "the VIP's holder over TLS");
    assert_eq!(h.calls_of("DescribeNetworkInterfaces").len(), 1);
}

#[test]
fn tls_without_ca_file_names_the_certificate_and_the_fix() {
    let h = start_tls();
    let c = client(&h, None);
    let e = describe(&c).unwrap_err().to_string();
    assert!(e.contains("certificate"), "names the certificate: {e}");
    assert!(e.contains("cloud.ca_file"), "names the fix: {e}");
    assert!(
        h.calls_of("DescribeNetworkInterfaces").is_empty(),
        "no request crossed an untrusted connection"
    );
}

#[test]
fn unreadable_ca_file_is_named() {
    let h = start_tls();
    let c = client(&h, Some("/nonexistent/ca.pem".into()));
    let e = describe(&c).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/ca.pem"), "names the file: {e}");
}
