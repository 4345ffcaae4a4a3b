"""Features/Set's newer fields through Python's own protobuf: allow_unknown_component on the
request; unchanged and dry_run on the response; UNKNOWN_COMPONENT in ErrorDetails."""

from __future__ import annotations

import uuid

import gatehouse_wire as wire

SET = "/gatehouse.v1.Features/Set"
IMPORT = "/gatehouse.v1.Features/ImportCatalog"


def set_request(pb, feature: str, component: str, *, allow: bool = False, dry_run: bool = False) -> bytes:
    request = pb.features.SetRequest(reason="wire test", allow_unknown_component=allow, dry_run=dry_run)
    change = request.changes.add()
    change.feature = feature
    change.enabled = True
    change.scope.component.component = component
    return request.SerializeToString()


def test_set_fields_over_the_wire(client, pb):
    # A feature of its own, so the session's shared server is not disturbed.
    feature = "WireSet" + uuid.uuid4().hex[:8]
    catalog = f"features:\n  - name: {feature}\n    stage: alpha\n    default_enabled: false\n"
    assert client.unary(IMPORT, pb.features.ImportCatalogRequest(yaml=catalog).SerializeToString()).ok

    component = "wire-" + uuid.uuid4().hex[:8]
    refused = client.unary(SET, set_request(pb, feature, component))
    assert refused.status == wire.NOT_FOUND, refused
    details = pb.errors.ErrorDetails.FromString(refused.details)
    assert details.reason == "UNKNOWN_COMPONENT" and details.metadata["component"] == component
    assert "--force" in refused.message

    dry = pb.features.SetResponse.FromString(client.unary(SET, set_request(pb, feature, component, allow=True, dry_run=True)).responses[0])
    assert dry.dry_run and not dry.unchanged

    first = pb.features.SetResponse.FromString(client.unary(SET, set_request(pb, feature, component, allow=True)).responses[0])
    assert not first.unchanged and not first.dry_run
    # Known now (an override is stored there), and already in effect: nothing committed.
    again = pb.features.SetResponse.FromString(client.unary(SET, set_request(pb, feature, component)).responses[0])
    assert again.unchanged and again.revision == first.revision
    assert list(again.applied) == [f"unchanged: set {feature}=true at component {component}"]
