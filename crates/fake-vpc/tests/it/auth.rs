use serde_json::json;

use crate::util::*;

#[test]
fn accepts_sdk_style_and_doc_style_signatures() {
    let h = start_default();
    let r = api(&h, "DescribeNetworkInterfaces", json!({}));
    assert_ok(&r);
    assert_eq!(r["TotalCount"], 2);
    let mut c = Call::new("DescribeNetworkInterfaces", json!({}));
    c.sign_action = true;
    c.content_type = "application/json; charset=utf-8".into();
    assert_ok(&c.send(h.addr()));
    let calls = h.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].secret_id.as_deref(), Some(DEMO_ID));
    assert_eq!(calls[0].outcome, "OK");
}
