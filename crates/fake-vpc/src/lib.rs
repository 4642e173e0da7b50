//! fake-vpc
