//! Round trips through the `tencent-api` client: the client tcvip uses, signing like the
//! official SDKs, drives a whole failover against the simulator. (Here rather than in fake-vpc,
//! which builds with the signer only and no HTTP client.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_vpc::{FakeVpc, FakeVpcHandle, Fault, FaultSpec, Options, Topology};
use tencent_api::credentials::{Credentials, CvmRoleCredentials, StaticCredentials};
use tencent_api::metadata::MetadataClient;
use tencent_api::vpc::*;
use tencent_api::{Client, ClientConfig, Error, RetryClass};

const DEMO_ID: &str = "AKIDTCVIPDEMO00000000000000000000000";
const DEMO_KEY: &str = "tcvipDemoSecretKey00000000000000";
const VIP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 1, 100);

const TWO_NODES: &str = include_str!("../../../fake-vpc/examples/two-nodes.toml");

/// The two-node example plus `extra` TOML.
fn two_nodes_with(extra: &str) -> Topology {
    Topology::from_toml_str(&format!("{TWO_NODES}\n{extra}")).unwrap()
}

fn start(options: Options) -> FakeVpcHandle {
    FakeVpc::start(two_nodes_with(""), options).unwrap()
}

fn start_default() -> FakeVpcHandle {
    start(Options::default())
}

fn client(h: &FakeVpcHandle) -> Client {
    let creds = StaticCredentials::new(Credentials::new(DEMO_ID, DEMO_KEY));
    Client::new(
        ClientConfig::vpc("ap-guangzhou")
            .with_endpoint(h.url().parse().unwrap())
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(5)),
        Arc::new(creds),
    )
    .unwrap()
}

fn holder(c: &Client) -> Vec<String> {
    c.describe_network_interfaces(&DescribeNetworkInterfacesRequest::holder_of(
        "vpc-demo0001",
        VIP,
    ))
    .unwrap()
    .network_interface_set
    .into_iter()
    .filter(|e| e.private_ip(VIP).is_some())
    .map(|e| e.network_interface_id)
    .collect()
}

fn wait_task(c: &Client, task: &str) -> TaskStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c
            .describe_vpc_task_result(&DescribeVpcTaskResultRequest {
                task_id: task.into(),
            })
            .unwrap();
        if r.status.is_finished() || Instant::now() > deadline {
            return r.status;
        }
        std::thread::sleep(Duration::from_millis(60));
    }
}

#[test]
fn a_whole_failover_through_the_client() {
    let h = start(Options {
        lag: Duration::from_millis(300),
        ..Options::default()
    });
    let c = client(&h);
    assert_eq!(holder(&c), ["eni-node0001"]);
    let r = c
        .migrate_private_ip_address(&MigratePrivateIpAddressRequest {
            source_network_interface_id: "eni-node0001".into(),
            destination_network_interface_id: "eni-node0002".into(),
            private_ip_address: VIP,
        })
        .unwrap();
    assert_eq!(r.request_id.len(), 36);
    // Mid-move: still on the source, MIGRATING.
    let e = c
        .describe_network_interfaces(&DescribeNetworkInterfacesRequest::by_ids(["eni-node0001"]))
        .unwrap();
    let spec = e.network_interface_set[0].private_ip(VIP).unwrap();
    assert_eq!(spec.state, "MIGRATING");
    assert_eq!(wait_task(&c, &r.request_id), TaskStatus::Success);
    assert_eq!(holder(&c), ["eni-node0002"]);
    let calls = h.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.is_ok() && c.secret_id.as_deref() == Some(DEMO_ID))
    );
    assert_eq!(h.calls_of("MigratePrivateIpAddress").len(), 1);
}

#[test]
fn errors_and_faults_map_to_typed_client_errors() {
    let h = start_default();
    let c = client(&h);
    let wrong = MigratePrivateIpAddressRequest {
        source_network_interface_id: "eni-node0002".into(),
        destination_network_interface_id: "eni-node0001".into(),
        private_ip_address: VIP,
    };
    let e = c.migrate_private_ip_address(&wrong).unwrap_err();
    assert_eq!(e.code(), Some("UnauthorizedOperation.AttachmentNotFound"));
    assert_eq!(e.retry_class(), RetryClass::Fatal);
    assert!(!e.api().unwrap().request_id.is_empty());

    let inject = |fault| {
        h.inject(FaultSpec {
            action: Some("DescribeNetworkInterfaces".into()),
            count: 1,
            fault,
        })
    };
    let describe = || c.describe_network_interfaces(&DescribeNetworkInterfacesRequest::default());
    inject(Fault::ApiError(
        "RequestLimitExceeded".into(),
        "slow down".into(),
    ));
    let e = describe().unwrap_err();
    assert_eq!(e.code(), Some("RequestLimitExceeded"));
    assert_eq!(e.retry_class(), RetryClass::Backoff);
    inject(Fault::Http500);
    assert!(matches!(
        describe().unwrap_err(),
        Error::Http { status: 500, .. }
    ));
    inject(Fault::Garbage);
    assert!(matches!(describe().unwrap_err(), Error::Decode { .. }));
    inject(Fault::Drop);
    let e = describe().unwrap_err();
    assert_eq!(e.retry_class(), RetryClass::Backoff, "{e:?}");
    inject(Fault::Delay(Duration::from_secs(8)));
    let impatient = Client::new(
        ClientConfig::vpc("ap-guangzhou")
            .with_endpoint(h.url().parse().unwrap())
            .with_timeouts(Duration::from_secs(1), Duration::from_secs(1)),
        Arc::new(StaticCredentials::new(Credentials::new(DEMO_ID, DEMO_KEY))),
    )
    .unwrap();
    let e = impatient
        .describe_network_interfaces(&DescribeNetworkInterfacesRequest::default())
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert_eq!(describe().unwrap().total_count, 2);
}

#[test]
fn cvm_role_credentials_from_the_simulated_metadata_service() {
    let h = start(Options {
        credential_lifetime: Duration::from_secs(3600),
        ..Options::default()
    });
    let metadata = MetadataClient::new(h.metadata_url("ins-node0002"), Duration::from_secs(2));
    let role = CvmRoleCredentials::new(metadata);
    let c = Client::new(
        ClientConfig::vpc("ap-guangzhou").with_endpoint(h.url().parse().unwrap()),
        Arc::new(role),
    )
    .unwrap();
    assert_eq!(holder(&c), ["eni-node0001"]);
    let rec = h.calls().pop().unwrap();
    assert!(rec.is_ok());
    let id = rec.secret_id.unwrap();
    assert!(id.starts_with("AKID") && id != DEMO_ID, "{id}");
    // Expired role credentials are refused with TokenFailure; refresh-once recovers.
    h.with_world(|w| w.expire_temp_credentials());
    let e = c
        .describe_network_interfaces(&DescribeNetworkInterfacesRequest::default())
        .unwrap_err();
    assert_eq!(e.code(), Some("AuthFailure.TokenFailure"));
    assert_eq!(e.retry_class(), RetryClass::RefreshCredentials);
    let body = serde_json::json!({});
    c.call_json_refresh_once("DescribeNetworkInterfaces", &body)
        .unwrap();
}

#[test]
fn eip_task_ids_round_trip() {
    let extra = r#"
[[eip]]
id = "eip-demo0001"
ip = "198.19.0.10"
"#;
    let h = FakeVpc::start(two_nodes_with(extra), Options::default()).unwrap();
    let c = client(&h);
    let r = c
        .associate_address(&AssociateAddressRequest {
            address_id: "eip-demo0001".into(),
            network_interface_id: Some("eni-node0001".into()),
            private_ip_address: Some(VIP),
            ..Default::default()
        })
        .unwrap();
    let task = r.task_id_u64().unwrap();
    assert!(eventually(|| {
        c.describe_task_result(&DescribeTaskResultRequest::task(task))
            .unwrap()
            .result
            == TaskStatus::Success
    }));
    let a = c
        .describe_addresses(&DescribeAddressesRequest::default())
        .unwrap();
    assert_eq!(a.address_set[0].address_status, "BIND");
    assert_eq!(a.address_set[0].private_address_ip, "198.18.1.100");
    let havips = c
        .describe_ha_vips(&DescribeHaVipsRequest::default())
        .unwrap();
    assert_eq!(havips.total_count, 0);
}

#[test]
fn paging_through_many_enis() {
    let h = FakeVpc::start(two_nodes_with(&extra_enis(100)), Options::default()).unwrap();
    let c = client(&h);
    let all = c
        .describe_all_network_interfaces(&DescribeNetworkInterfacesRequest::default(), 1000)
        .unwrap();
    assert_eq!(all.len(), 102);
    assert_eq!(h.calls_of("DescribeNetworkInterfaces").len(), 2);
}

fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(60));
    }
    false
}

/// `n` detached ENIs `eni-extra0000`.. in subnet-demo0001 (198.18.1.150 + i).
fn extra_enis(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[[eni]]\nid = \"eni-extra{i:04}\"\nmac = \"52:54:00:00:03:{i:02x}\"\nsubnet = \"subnet-demo0001\"\nprimary_ip = \"198.18.1.{}\"\n",
                150 + i
            )
        })
        .collect()
}
