//! The boot service's config file as the lab writes it: the lab's own, and what `cargo xtask demo` runs on.
//! Written with the boot service's [`ConfigWriter`], so the keys are the ones the service reads.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use boot_service::config::{ConfigWriter, DhcpMode, Enrolment, SubnetWriter};

use crate::lab::{ADMIN_TOKEN, BRIDGE, Deadlines, HTTP_PORT, LAB_RACK, LabDhcp, SERVER_IP};

/// All but `[deploy]`: the lab's bridge and subnet in `dhcp`'s arrangement, its directories and its rack.
pub(crate) fn boot_service_config(data: &Path, assets: &Path, images: &Path, dhcp: LabDhcp) -> ConfigWriter {
    let server: Ipv4Addr = SERVER_IP.parse().expect("SERVER_IP is an address");
    let subnet =
        SubnetWriter::new("10.77.0.0/24".parse().expect("a network"), Enrolment::Auto).router(server).lease_secs(3600);
    let (mode, subnet) = match dhcp {
        LabDhcp::Full => (DhcpMode::Full, subnet.pool(Ipv4Addr::new(10, 77, 0, 100), Ipv4Addr::new(10, 77, 0, 149))),
        // The site server owns the addresses; the boot service only answers PXE clients.
        LabDhcp::Proxy => (DhcpMode::Proxy, subnet),
    };
    let writer = ConfigWriter::new(server, data, ADMIN_TOKEN, mode, [BRIDGE])
        .http_listen(SocketAddr::from(([0, 0, 0, 0], HTTP_PORT)))
        .assets_dir(assets)
        .images_dir(images)
        .cmdline(LAB_CMDLINE)
        .ipv6_null_router_advertisements(true)
        .subnet(subnet);
    location_table(writer)
}

/// One of two instances on one PostgreSQL database: at `address` on the lab's segment, naming the
/// instance at `peer` as its peer.
pub(crate) fn peer_config(writer: ConfigWriter, address: &str, peer: &str, postgres: &str) -> ConfigWriter {
    let mut writer =
        writer.public_url(format!("http://{address}:{HTTP_PORT}")).peers([format!("http://{peer}:{HTTP_PORT}")]);
    if address != SERVER_IP {
        let ip: Ipv4Addr = address.parse().expect("the lab's instance addresses are addresses");
        writer = writer.advertise(ip).interfaces(["eth0"]);
    }
    writer.store_postgres(postgres)
}

/// What the lab's boot service adds to every kernel line (`[boot] cmdline`): the serial console the tests
/// read, and a panic that restarts the server instead of hanging it.
pub const LAB_CMDLINE: &str = "console=ttyS0,115200n8 panic=-1";

/// `[deploy]`: the lab's operator key on every installed server, and the test's deadlines if it sets any.
pub(crate) fn deploy_config(writer: ConfigWriter, public_key: &str, deadlines: &Deadlines) -> ConfigWriter {
    let mut writer = writer.ssh_authorized_key(public_key);
    if let Some(installer) = deadlines.installer {
        writer = writer.installer_deadline(installer);
    }
    if let Some(reboot) = deadlines.reboot {
        writer = writer.reboot_deadline(reboot);
    }
    if let Some(first_boot) = deadlines.first_boot {
        writer = writer.first_boot_deadline(first_boot);
    }
    if let Some(bmc_boot) = deadlines.bmc_boot {
        writer = writer.bmc_boot_deadline(bmc_boot);
    }
    writer
}

/// The lab's rack: server `index` stands in `rack1` unit `index`, its NICs cabled to port `Ethernet<index>`
/// of switches `sw-a` and `sw-b` (see `server.rs`), so the boot service names it `rack1-u<index>`.
fn location_table(mut writer: ConfigWriter) -> ConfigWriter {
    for index in 1..=crate::server::MAX_SERVER_INDEX {
        for switch in crate::server::SWITCHES {
            writer = writer.location(switch, format!("Ethernet{index}"), LAB_RACK, u32::from(index));
        }
    }
    writer
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use boot_service::config::Config;
    use rackhand_api::Location;

    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFu5+pKQ2y573dYFGYroQeYi1CNjkTfWOeomCln4ervB lab";

    fn parsed(dhcp: LabDhcp, deadlines: &Deadlines) -> Config {
        let writer = boot_service_config(Path::new("/lab/data"), Path::new("/lab/assets"), Path::new("/img"), dhcp);
        let text = deploy_config(writer, KEY, deadlines).render().unwrap();
        Config::parse(&text, "lab.toml").unwrap_or_else(|err| panic!("{err}\n{text}"))
    }

    #[test]
    fn the_boot_service_accepts_the_labs_config_in_either_dhcp_arrangement() {
        let full = parsed(LabDhcp::Full, &Deadlines::default());
        assert_eq!((full.dhcp.mode, full.http.public_url.as_str()), (DhcpMode::Full, "http://10.77.0.1:8080"));
        let pool = full.dhcp.subnets[0].pools[0];
        assert_eq!((pool.start, pool.end), (Ipv4Addr::new(10, 77, 0, 100), Ipv4Addr::new(10, 77, 0, 149)));
        assert_eq!(full.deploy.ssh_authorized_keys, [KEY]);
        let proxy = parsed(LabDhcp::Proxy, &Deadlines::default());
        assert_eq!((proxy.dhcp.mode, proxy.dhcp.subnets[0].pools.len()), (DhcpMode::Proxy, 0));
    }

    #[test]
    fn every_server_index_has_a_rack_unit_behind_both_switches() {
        let locations = parsed(LabDhcp::Full, &Deadlines::default()).locations.0;
        assert_eq!(locations.len(), usize::from(crate::server::MAX_SERVER_INDEX) * crate::server::SWITCHES.len());
        let third: Vec<_> = locations.iter().filter(|p| p.port == "Ethernet3").collect();
        assert_eq!(third.iter().map(|p| p.switch.as_str()).collect::<Vec<_>>(), crate::server::SWITCHES);
        assert!(third.iter().all(|p| p.location == Location { rack: LAB_RACK.into(), unit: 3 }));
    }

    #[test]
    fn two_instances_name_each_other_on_one_database_each_at_its_own_address() {
        let config = |address, peer| {
            let writer = boot_service_config(Path::new("/d"), Path::new("/a"), Path::new("/i"), LabDhcp::Full);
            let text = peer_config(writer, address, peer, "host=/pg dbname=lab").render().unwrap();
            Config::parse(&text, "lab.toml").unwrap_or_else(|err| panic!("{err}\n{text}"))
        };
        let (a, b) = (config(SERVER_IP, "10.77.0.2"), config("10.77.0.2", SERVER_IP));
        assert_eq!(
            (a.http.public_url.as_str(), a.http.peers.as_slice()),
            ("http://10.77.0.1:8080", &["http://10.77.0.2:8080".to_string()][..])
        );
        assert_eq!(
            (b.http.public_url.as_str(), b.http.peers.as_slice()),
            ("http://10.77.0.2:8080", &["http://10.77.0.1:8080".to_string()][..])
        );
        assert_eq!(
            (a.advertise, a.dhcp.interfaces.as_slice()),
            (Ipv4Addr::new(10, 77, 0, 1), &[BRIDGE.to_string()][..])
        );
        assert_eq!(
            (b.advertise, b.dhcp.interfaces.as_slice()),
            (Ipv4Addr::new(10, 77, 0, 2), &["eth0".to_string()][..])
        );
        assert_eq!(a.store.to_string(), b.store.to_string(), "one database");
    }

    #[test]
    fn a_tests_deadlines_reach_the_service() {
        let deadlines = Deadlines {
            installer: Some(Duration::from_secs(150)),
            reboot: Some(Duration::from_secs(90)),
            first_boot: Some(Duration::from_secs(60)),
            bmc_boot: Some(Duration::from_secs(120)),
        };
        let deploy = parsed(LabDhcp::Full, &deadlines).deploy;
        assert_eq!(
            (deploy.installer_deadline, deploy.reboot_deadline, deploy.first_boot_deadline, deploy.bmc_boot_deadline),
            (Duration::from_secs(150), Duration::from_secs(90), Duration::from_secs(60), Duration::from_secs(120))
        );
    }
}
