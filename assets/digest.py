"""The daily digest: one message per authority to the routes that take `digest` for it (the
authority's CME lead), with files received and rejected, new flags, cases and review pairs
waiting, late providers and stale rolls. Silence is noticed: the digest comes every day."""
from datetime import timedelta

from dagster import AssetExecutionContext, MaterializeResult, asset

from alerts import deliver, enqueue, load_routes
from assets.safety import scrubbed
from cme import authorities, authority_digest
from register import utc_now


@asset(group_name="cme", kinds={"sql"}, required_resource_keys={"db"},
       description="A daily digest per authority: files received and rejected, new CME flags, cases and review "
                   "pairs waiting, late providers and stale rolls.")
@scrubbed
def daily_digest(context: AssetExecutionContext) -> MaterializeResult:
    engine = context.resources.db.engine()
    since = utc_now() - timedelta(days=1)
    routes = load_routes()
    las = authorities(engine)
    unrouted = [la for la in las if routes.for_alert("digest", la) == ([], [])]
    for la in las:
        if la not in unrouted:  # a digest nobody is to read is not kept
            subject, body = authority_digest(engine, la, since).text(routes.service_url)
            enqueue(engine, "digest", subject, body, la)
    delivered = deliver(engine, routes)
    if unrouted:
        context.log.warning(f"no route takes the digest of authorities {', '.join(unrouted)}")
    return MaterializeResult(metadata={"authorities": len(las), "digests_queued": len(las) - len(unrouted),
                                       "authorities_without_a_digest_route": ", ".join(unrouted) or "none",
                                       "sent": delivered["sent"], "not_sent": delivered["failed"]})
