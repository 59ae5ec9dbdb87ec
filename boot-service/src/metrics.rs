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

/// Metric families of the HTTP side, TFTP and the node table.
#[derive(Clone, Default)]
pub struct ServiceMetrics {
    pub http_requests: Family<HttpLabels, Counter>,
    pub tftp_requests: Family<ResultLabels, Counter>,
    pub nodes: Family<StateLabels, Gauge>,
}

impl ServiceMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register("rackhand_http_requests", "HTTP requests by route and status", metrics.http_requests.clone());
        registry.register("rackhand_tftp_requests", "TFTP read requests by result", metrics.tftp_requests.clone());
        registry.register("rackhand_nodes", "Nodes by lifecycle state", metrics.nodes.clone());
        metrics
    }

    /// Refresh the node gauges from the current node list (called at scrape time).
    pub fn set_node_counts(&self, nodes: &[NodeRecord]) {
        for state in NodeState::ALL {
            let count = nodes.iter().filter(|n| n.state == state).count();
            self.nodes.get_or_create(&StateLabels { state: state.as_str() }).set(count as i64);
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
}
