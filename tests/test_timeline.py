"""Timelines of many services from one pass over a log: the same rows as one
service at a time, one point per batch when asked, and the causes of each."""

import attrs
import pytest
from test_whatif import ZONES, endpoint, node, service, web_slice

from engine.api import Engine
from engine.errors import ArgumentError
from engine.events import NodeUpserted
from engine.timeline import timelines
from engine.whatif import timeline


def own_zone(address, zone):
    return endpoint(address, f"node-{zone[-1]}", zone, for_zones=(zone,))


@pytest.fixture
def two_service_log(tmp_path):
    """web and api over 3 zones, written in batches the way an import writes them."""
    path = tmp_path / "log"
    web = [own_zone(f"10.0.0.{i}", z) for i, z in enumerate(ZONES, 1)]
    api = [own_zone(f"10.0.1.{i}", z) for i, z in enumerate(ZONES, 1)]
    with Engine.open(path, create=True, write=True, sync=False) as engine:
        engine.apply_all([*(node(f"node-{z[-1]}", z) for z in ZONES), service(), service("api")])  # 1-5
        engine.apply_all([web_slice(*web), web_slice(*api, name="api-1", svc="api")])  # 6-7
        engine.apply(web_slice(*web[:2]))  # 8: a rollout takes web's zone-c endpoint away
        engine.apply(web_slice(web[0], attrs.evolve(web[1], for_zones=("zone-b", "zone-c"))))  # 9: hints only
        engine.apply(node("node-c", "zone-c"))  # 10: nothing changed: no point
        engine.apply(NodeUpserted("node-b", "zone-b", 4000, ready=False))  # 11: zone-b's clients leave
        engine.apply_all(
            [
                web_slice(*api[:1], name="api-1", svc="api"),  # 12-13: one batch, two writes
                web_slice(*api[:2], name="api-1", svc="api"),
            ]
        )
    return path


def test_one_pass_gives_each_service_the_rows_it_gets_alone(two_service_log):
    clients = {z: 1 for z in ZONES}
    both = timelines(two_service_log, [("shop/web", 80), ("shop/api", 80)], clients=clients)
    for key in ("shop/web", "shop/api"):
        alone = timeline(two_service_log, key, 80, clients=clients)
        assert [p.row for p in both[(key, 80)]] == alone
    assert [p.row.seq for p in both[("shop/web", 80)]] == [4, 6, 8, 9, 11]
    assert [p.row.seq for p in both[("shop/api", 80)]] == [5, 7, 11, 12, 13]


def test_causes_name_what_touched_the_service(two_service_log):
    points = timelines(two_service_log, [("shop/web", 80)])[("shop/web", 80)]
    assert [p.causes for p in points] == [
        (("service", 1),),
        (("endpoints", 1),),
        (("endpoints", 1),),
        (("hints", 1),),
        (("node-down", 1),),
    ]
    # cpu clients: node-b no longer counts, so half the requests come from zone-c, whose
    # clients are hinted to zone-b's endpoint (seq 9): they all cross.
    assert points[-1].row.cross_zone_share == pytest.approx(0.5)
    assert points[-2].row.cross_zone_share == pytest.approx(1 / 3)


def test_per_batch_gives_one_point_per_batch_with_every_cause_counted(two_service_log):
    points = timelines(two_service_log, [("shop/api", 80)], per_batch=True)[("shop/api", 80)]
    assert [p.row.seq for p in points] == [5, 7, 11, 13]
    assert points[-1].causes == (("endpoints", 2),)
    # The batch's point is the state after its last write: api keeps zone-a and zone-b.
    assert points[-1].row.endpoints == 2


def test_every_nth_touch_and_always_the_last(two_service_log):
    points = timelines(two_service_log, [("shop/web", 80)], every=2)[("shop/web", 80)]
    assert [p.row.seq for p in points] == [4, 8, 11]
    # What touched the service since the point before is carried over to the next point.
    assert points[1].causes == (("endpoints", 2),)
    assert points[2].causes == (("node-down", 1), ("hints", 1))


def test_until_stops_the_pass_and_bad_arguments_say_so(two_service_log):
    points = timelines(two_service_log, [("shop/web", 80)], until=8)[("shop/web", 80)]
    assert [p.row.seq for p in points] == [4, 6, 8]
    with pytest.raises(ArgumentError, match="^every: must be at least 1"):
        timelines(two_service_log, [("shop/web", 80)], every=0)
    with pytest.raises(ArgumentError, match="^policy: unknown policy"):
        timelines(two_service_log, [("shop/web", 80)], policy="nginx")


def test_progress_reaches_the_end(two_service_log):
    seen = []
    timelines(two_service_log, [("shop/web", 80)], progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (13, 13) and seen == sorted(seen)
