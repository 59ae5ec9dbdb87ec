//! The DHCP server's Prometheus metrics, all named `rackhand_dhcp_*`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::request::DropReason;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabels {
    pub msg_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ArchLabels {
    pub arch: u16,
}

/// Cheap to clone: every field is a handle onto the registered metric.
#[derive(Clone, Debug, Default)]
pub struct DhcpMetrics {
    /// `rackhand_dhcp_received_total{msg_type}`: decoded requests by message type.
    pub received: Family<TypeLabels, Counter>,
    /// `rackhand_dhcp_replies_total{msg_type}`: replies sent by message type.
    pub replies: Family<TypeLabels, Counter>,
    /// `rackhand_dhcp_dropped_total{reason}`: packets not answered, by reason.
    pub dropped: Family<ReasonLabels, Counter>,
    /// `rackhand_dhcp_unknown_arch_total{arch}`: boot clients we had no boot file for.
    pub unknown_arch: Family<ArchLabels, Counter>,
    /// `rackhand_dhcp_bound_leases`: leases bound and not yet expired.
    pub bound_leases: Gauge,
}

impl DhcpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = DhcpMetrics::default();
        registry.register(
            "rackhand_dhcp_received",
            "DHCP requests received, by message type",
            metrics.received.clone(),
        );
        registry.register("rackhand_dhcp_replies", "DHCP replies sent, by message type", metrics.replies.clone());
        registry.register(
            "rackhand_dhcp_dropped",
            "DHCP packets dropped without a reply, by reason",
            metrics.dropped.clone(),
        );
        registry.register(
            "rackhand_dhcp_unknown_arch",
            "PXE clients of an architecture (option 93) without a boot file",
            metrics.unknown_arch.clone(),
        );
        registry.register(
            "rackhand_dhcp_bound_leases",
            "DHCP leases bound and not expired",
            metrics.bound_leases.clone(),
        );
        metrics
    }

    pub fn count_drop(&self, reason: DropReason) {
        self.count_drops(reason, 1);
    }

    pub fn count_drops(&self, reason: DropReason, count: u64) {
        self.dropped.get_or_create(&ReasonLabels { reason: reason.as_str() }).inc_by(count);
    }
}
