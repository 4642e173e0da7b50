//! Raw signed call to any Tencent Cloud API 3.0 endpoint, with the default credential chain.
//!
//! `cargo run -p tencent-api --example call -- --action NAME --region REGION
//!  [--endpoint URL] [--version 2017-03-12] [--service vpc] [--json BODY]`
//!
//! Prints the `Response` JSON on stdout and exits 0; on an API error prints code, message and
//! request id on stderr and exits 1; transport errors exit 3, missing credentials 4, bad
//! arguments 2.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tencent_api::credentials::DefaultChain;
use tencent_api::metadata::{DEFAULT_METADATA_TIMEOUT, DEFAULT_METADATA_URL, MetadataClient};
use tencent_api::raw_call::{RawCall, run};

#[derive(Debug, Parser)]
#[command(about = "Send one signed Tencent Cloud API call and print the Response")]
struct Args {
    /// Action name, e.g. DescribeNetworkInterfaces.
    #[arg(long)]
    action: String,
    /// Region, e.g. ap-guangzhou.
    #[arg(long)]
    region: String,
    /// Host or full URL (default vpc.tencentcloudapi.com).
    #[arg(long)]
    endpoint: Option<String>,
    /// API version (default 2017-03-12).
    #[arg(long)]
    version: Option<String>,
    /// Service in the credential scope (default vpc).
    #[arg(long)]
    service: Option<String>,
    /// Request body, a JSON object (default {}).
    #[arg(long)]
    json: Option<String>,
    /// Total timeout in milliseconds (default 3000).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Metadata base URL for CVM role credentials.
    #[arg(long, default_value = DEFAULT_METADATA_URL)]
    metadata_url: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let chain = DefaultChain::standard(MetadataClient::new(
        args.metadata_url,
        DEFAULT_METADATA_TIMEOUT,
    ));
    let outcome = run(
        &RawCall {
            action: args.action,
            region: args.region,
            endpoint: args.endpoint,
            version: args.version,
            service: args.service,
            json: args.json,
            timeout: args.timeout_ms.map(Duration::from_millis),
        },
        Arc::new(chain),
    );
    print!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    std::process::exit(outcome.exit_code);
}
