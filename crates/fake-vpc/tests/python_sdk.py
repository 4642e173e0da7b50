"""Drives fake-vpc with the official Tencent Cloud Python SDK (tencentcloud-sdk-python-common
and -vpc from PyPI): the requests it signs must be accepted and its models must parse every
answer, warning-free. Usage: python_sdk.py HOST:PORT (a fake-vpc serving examples/two-nodes.toml
with a small --lag-ms). Exits non-zero on the first failure."""

import sys
import time
import warnings

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.vpc.v20170312 import models, vpc_client

SECRET_ID = "AKIDTCVIPDEMO00000000000000000000000"
SECRET_KEY = "tcvipDemoSecretKey00000000000000"
VIP = "198.18.1.100"


def client(endpoint, cred):
    http = HttpProfile(protocol="http", endpoint=endpoint, reqMethod="POST", reqTimeout=10)
    return vpc_client.VpcClient(cred, "ap-guangzhou", ClientProfile(httpProfile=http))


def holder(c):
    req = models.DescribeNetworkInterfacesRequest()
    f1, f2, f3 = models.Filter(), models.Filter(), models.Filter()
    f1.Name, f1.Values = "vpc-id", ["vpc-demo0001"]
    f2.Name, f2.Values = "address-ip", [VIP]
    f3.Name, f3.Values = "ip-exact-match", ["TRUE"]
    req.Filters = [f1, f2, f3]
    resp = c.DescribeNetworkInterfaces(req)
    assert resp.TotalCount == 1, resp.to_json_string()
    eni = resp.NetworkInterfaceSet[0]
    assert isinstance(eni, models.NetworkInterface)
    assert eni.MacAddress == eni.MacAddress.upper()
    assert isinstance(eni.PrivateIpAddressSet[0], models.PrivateIpAddressSpecification)
    return eni.NetworkInterfaceId


def expect_error(code, fn):
    try:
        fn()
    except TencentCloudSDKException as e:
        assert e.get_code() == code, "expected %s, got %s: %s" % (code, e.get_code(), e)
        assert e.get_request_id(), "no RequestId in %s" % e
        return
    raise AssertionError("expected %s, the call succeeded" % code)


def migrate(c, src, dst):
    req = models.MigratePrivateIpAddressRequest()
    req.SourceNetworkInterfaceId = src
    req.DestinationNetworkInterfaceId = dst
    req.PrivateIpAddress = VIP
    return c.MigratePrivateIpAddress(req)


def wait_task(c, task_id):
    req = models.DescribeVpcTaskResultRequest()
    req.TaskId = task_id
    deadline = time.time() + 20
    while time.time() < deadline:
        resp = c.DescribeVpcTaskResult(req)
        if resp.Status != "RUNNING":
            return resp.Status
        time.sleep(0.1)  # stays under the action's 20/s limit
    raise AssertionError("task %s still RUNNING" % task_id)


def main(endpoint):
    c = client(endpoint, credential.Credential(SECRET_ID, SECRET_KEY))

    assert holder(c) == "eni-node0001"
    resp = migrate(c, "eni-node0001", "eni-node0002")
    assert resp.RequestId, "no RequestId"
    assert wait_task(c, resp.RequestId) == "SUCCESS"
    assert holder(c) == "eni-node0002"

    # API errors surface as TencentCloudSDKException with the code.
    expect_error("UnauthorizedOperation.AttachmentNotFound",
                 lambda: migrate(c, "eni-node0001", "eni-node0002"))
    bad = client(endpoint, credential.Credential(SECRET_ID, "x" * 32))
    expect_error("AuthFailure.SignatureFailure", lambda: holder(bad))
    unknown = client(endpoint, credential.Credential("AKID" + "0" * 32, SECRET_KEY))
    expect_error("AuthFailure.SecretIdNotFound", lambda: holder(unknown))

    # The rest of the served actions parse too.
    addr = c.DescribeAddresses(models.DescribeAddressesRequest())
    assert addr.TotalCount == 0
    havips = c.DescribeHaVips(models.DescribeHaVipsRequest())
    assert havips.TotalCount == 0
    req = models.AssignPrivateIpAddressesRequest()
    req.NetworkInterfaceId = "eni-node0001"
    spec = models.PrivateIpAddressSpecification()
    spec.PrivateIpAddress = "198.18.1.101"
    req.PrivateIpAddresses = [spec]
    resp = c.AssignPrivateIpAddresses(req)
    assert resp.PrivateIpAddressSet[0].PrivateIpAddress == "198.18.1.101"
    assert wait_task(c, resp.RequestId) == "SUCCESS"
    req = models.DescribeTaskResultRequest()
    req.TaskId = 1
    expect_error("ResourceNotFound", lambda: c.DescribeTaskResult(req))

    # CVM role credentials from the metadata service, as the SDK fetches and sends them.
    credential.CVMRoleCredential._role_endpoint = (
        "http://%s/ins-node0002/latest/meta-data/cam/security-credentials/" % endpoint)
    role = client(endpoint, credential.CVMRoleCredential())
    assert holder(role) == "eni-node0002"
    resp = migrate(role, "eni-node0002", "eni-node0001")
    assert wait_task(role, resp.RequestId) == "SUCCESS"
    assert holder(c) == "eni-node0001"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python_sdk.py HOST:PORT")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(sys.argv[1])
    useless = [str(w.message) for w in caught if "useless" in str(w.message)]
    if useless:
        sys.exit("the SDK models did not know these fields: %s" % useless)
    print("python SDK compatibility: ok")
