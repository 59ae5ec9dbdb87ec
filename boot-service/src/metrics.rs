//! Prometheus metrics of the whole service, served as text at `GET /metrics`. Each part registers its
//! own families here at start-up; node counts by state are read from the store at scrape time.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rackhand_api::{NodeRecord, NodeState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SupplyLabels {
    pub node: i64,
    pub sensor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProblemLabels {
    pub node: i64,
    pub source: &'static str,
}

/// Metric families of the HTTP side, TFTP and the node table.
#[derive(Clone, Default)]
pub struct ServiceMetrics {
    pub http_requests: Family<HttpLabels, Counter>,
    /// Bytes of assets and images sent by `sendfile` (http/sendfile.rs), the rest through the router.
    pub http_sendfile_bytes: Counter,
    pub tftp_requests: Family<ResultLabels, Counter>,
    pub nodes: Family<StateLabels, Gauge>,
    pub power_supply_ok: Family<SupplyLabels, Gauge>,
    pub problems: Family<ProblemLabels, Gauge>,
}

impl ServiceMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register("rackhand_http_requests", "HTTP requests by route and status", metrics.http_requests.clone());
        registry.register(
            "rackhand_http_sendfile_bytes",
            "Bytes of assets and images sent from the page cache by sendfile",
            metrics.http_sendfile_bytes.clone(),
        );
        registry.register("rackhand_tftp_requests", "TFTP read requests by result", metrics.tftp_requests.clone());
        registry.register("rackhand_nodes", "Nodes by lifecycle state", metrics.nodes.clone());
        registry.register(
            "rackhand_bmc_power_supply_ok",
            "1 while a ready node's BMC reports the supply present, powered and not failed; 0 otherwise",
            metrics.power_supply_ok.clone(),
        );
        registry.register(
            "rackhand_node_problems",
            "What is wrong with a ready node, by who says so (bmc: its BMC, os: its installed OS)",
            metrics.problems.clone(),
        );
        metrics
    }

    /// Refresh the node gauges from the current node list (called at scrape time).
    pub fn set_node_counts(&self, nodes: &[NodeRecord]) {
        for state in NodeState::ALL {
            let count = nodes.iter().filter(|n| n.state == state).count();
            self.nodes.get_or_create(&StateLabels { state: state.as_str() }).set(count as i64);
        }
        // Only ready nodes are watched; a node that left ready or lost its BMC drops out.
        self.power_supply_ok.clear();
        self.problems.clear();
        for node in nodes.iter().filter(|n| n.state == NodeState::Ready) {
            let (bmc, os) = (node.bmc_health.as_ref(), node.os.as_ref());
            for supply in bmc.map_or(&[][..], |h| &h.power_supplies[..]) {
                let ok = supply.present && !supply.input_lost && !supply.failed;
                let labels = SupplyLabels { node: node.id.0, sensor: supply.sensor.clone() };
                self.power_supply_ok.get_or_create(&labels).set(i64::from(ok));
            }
            for (source, count) in
                [("bmc", bmc.map_or(0, |h| h.problems.len())), ("os", os.map_or(0, |o| o.problems.len()))]
            {
                self.problems.get_or_create(&ProblemLabels { node: node.id.0, source }).set(count as i64);
            }
        }
    }
}

/// Render the registry in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_node_gauges() {
        let mut registry = Registry::default();
        let metrics = ServiceMetrics::register(&mut registry);
        metrics.http_requests.get_or_create(&HttpLabels { route: "/healthz", status: 200 }).inc();
        metrics.set_node_counts(&[]);
        let text = render(&registry);
        assert!(text.contains("rackhand_http_requests_total{route=\"/healthz\",status=\"200\"} 1"), "{text}");
        assert!(text.contains("rackhand_nodes{state=\"ready\"} 0"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn a_ready_nodes_supplies_and_problems_are_gauges_that_go_when_it_leaves_ready() {
        use rackhand_api::{BmcHealth, MacAddr, NodeId, Problem, parse_sdr_power_supply};
        let mut registry = Registry::default();
        let metrics = ServiceMetrics::register(&mut registry);
        let at = jiff::Timestamp::from_second(1_790_000_000).unwrap();
        let mut node = NodeRecord::new(NodeId(4), vec![MacAddr::new([2, 0, 0, 0, 0, 4])], NodeState::Ready, at);
        let sdr = "PSU1 Status | 11h | ok | 10.1 | Presence detected\n\
                   PSU2 Status | 12h | ok | 10.2 | Presence detected, Power Supply AC lost\n";
        node.bmc_health = Some(BmcHealth {
            since: at,
            power_supplies: parse_sdr_power_supply(sdr),
            problems: vec![Problem::warning("PSU 2", "PSU 2 lost its AC input", "plug it in")],
            event_log_seen: None,
        });
        metrics.set_node_counts(std::slice::from_ref(&node));
        let text = render(&registry);
        assert!(text.contains("rackhand_bmc_power_supply_ok{node=\"4\",sensor=\"PSU1 Status\"} 1"), "{text}");
        assert!(text.contains("rackhand_bmc_power_supply_ok{node=\"4\",sensor=\"PSU2 Status\"} 0"), "{text}");
        assert!(text.contains("rackhand_node_problems{node=\"4\",source=\"bmc\"} 1"), "{text}");
        assert!(text.contains("rackhand_node_problems{node=\"4\",source=\"os\"} 0"), "{text}");
        node.state = NodeState::Booting;
        metrics.set_node_counts(&[node]);
        let text = render(&registry);
        assert!(!text.contains("rackhand_bmc_power_supply_ok{") && !text.contains("rackhand_node_problems{"), "{text}");
    }
}
