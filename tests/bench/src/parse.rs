//! Parsers for what the peers and the kernel print.

/// One exchange's statistics from a perfdhcp report (`***Statistics for: DISCOVER-OFFER***`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Exchange {
    pub sent: u64,
    pub received: u64,
    pub drops: u64,
    pub min_ms: f64,
    pub avg_ms: f64,
    pub max_ms: f64,
}

/// What a perfdhcp DORA run reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perfdhcp {
    /// Achieved full 4-way exchanges per second (`Rate: N 4-way exchanges/second`).
    pub rate: f64,
    pub discover_offer: Exchange,
    pub request_ack: Exchange,
    /// Datagrams the kernel dropped in perfdhcp's namespace because a UDP receive buffer was full
    /// (`RcvbufErrors` of `/proc/net/snmp`, over the run): replies perfdhcp counts as lost although a
    /// server sent them. Not in the report; set by the caller.
    pub client_buffer_drops: u64,
}

impl Perfdhcp {
    /// Lost packets over both exchanges, as a share of the DISCOVERs and REQUESTs sent.
    pub fn drop_ratio(&self) -> f64 {
        let sent = self.discover_offer.sent + self.request_ack.sent;
        let drops = self.discover_offer.drops + self.request_ack.drops;
        if sent == 0 { 0.0 } else { drops as f64 / sent as f64 }
    }

    /// Mean time from DISCOVER to ACK: both exchanges' average delays.
    pub fn dora_latency_ms(&self) -> f64 {
        self.discover_offer.avg_ms + self.request_ack.avg_ms
    }
}

/// Parse perfdhcp's (Kea 2.x) report. Fails naming what is missing.
pub fn perfdhcp(text: &str) -> Result<Perfdhcp, String> {
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Rate:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .ok_or("no `Rate: N 4-way exchanges/second` line")?;
    Ok(Perfdhcp {
        rate,
        discover_offer: exchange(text, "DISCOVER-OFFER")?,
        request_ack: exchange(text, "REQUEST-ACK")?,
        client_buffer_drops: 0,
    })
}

fn exchange(text: &str, name: &str) -> Result<Exchange, String> {
    let header = format!("***Statistics for: {name}***");
    let start = text.find(&header).ok_or_else(|| format!("no statistics for {name}"))? + header.len();
    let section = &text[start..];
    let section = &section[..section.find("***").unwrap_or(section.len())];
    let value = |key: &str| {
        section
            .lines()
            .find_map(|l| l.trim().strip_prefix(key).and_then(|r| r.strip_prefix(':')))
            .and_then(|v| v.split_whitespace().next())
    };
    let count = |key: &str| -> Result<u64, String> {
        value(key).and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name}: no `{key}` value"))
    };
    // Delays are absent when nothing came back.
    let delay = |key: &str| value(key).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    Ok(Exchange {
        sent: count("sent packets")?,
        received: count("received packets")?,
        drops: count("drops")?,
        min_ms: delay("min delay"),
        avg_ms: delay("avg delay"),
        max_ms: delay("max delay"),
    })
}

/// Peak resident memory in KiB from `/proc/<pid>/status` (`VmHWM:  12345 kB`).
pub fn vm_hwm_kib(status: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The parent's pid from `/proc/<pid>/stat` (`pid (comm) state ppid …`; comm may hold spaces and
/// parentheses, so the fields are counted after the last `)`).
pub fn stat_ppid(stat: &str) -> Option<u32> {
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// `RcvbufErrors` of the `Udp:` lines of `/proc/net/snmp` (a header line of names, then one of values):
/// UDP datagrams dropped because a socket's receive buffer was full, since the namespace was made.
pub fn snmp_udp_rcvbuf_errors(snmp: &str) -> Option<u64> {
    let mut udp = snmp.lines().filter_map(|l| l.strip_prefix("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let at = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// User plus system CPU time in clock ticks from `/proc/<pid>/stat` (fields 14 and 15, `utime` and
/// `stime`: every thread of the process), counted after the last `)` as [`stat_ppid`] does.
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// The URLs an iPXE script's `kernel`, `initrd` and `imgfetch` lines fetch (each line's first
/// `http://` word, so options and the kernel's command line are skipped), in order.
pub fn script_files(script: &str) -> Vec<String> {
    script
        .lines()
        .filter(|line| matches!(line.split_whitespace().next(), Some("kernel" | "initrd" | "imgfetch" | "module")))
        .filter_map(|line| line.split_whitespace().find(|w| w.starts_with("http://")).map(str::to_owned))
        .collect()
}

/// `MemTotal` in KiB from `/proc/meminfo`.
pub fn meminfo_total_kib(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The value of one series (`name{labels}` exactly as exposed) in Prometheus's text format.
pub fn prometheus_sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from perfdhcp 2.2.0 against dnsmasq in a namespace pair.
    const SAMPLE: &str = "Running: perfdhcp -4 -l vc -r 1000 -p 3 -R 30000 10.201.0.1
Scenario: basic.
Multi-thread mode enabled.
***Rate statistics***
Rate: 266.369 4-way exchanges/second, expected rate: 1000

***Malformed Packets***
Malformed packets: 0
***Statistics for: DISCOVER-OFFER***
sent packets: 2998
received packets: 952
drops: 2046
drops ratio: 68.2455 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.544 ms
avg delay: 203.708 ms
max delay: 923.368 ms
std deviation: 225.397 ms
collected packets: 3

***Statistics for: REQUEST-ACK***
sent packets: 952
received packets: 800
drops: 152
drops ratio: 15.966 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 1.245 ms
avg delay: 167.260 ms
max delay: 930.504 ms
std deviation: 218.566 ms
collected packets: 0
";

    #[test]
    fn parses_a_perfdhcp_report() {
        let r = perfdhcp(SAMPLE).unwrap();
        assert_eq!(r.rate, 266.369);
        assert_eq!(
            r.discover_offer,
            Exchange { sent: 2998, received: 952, drops: 2046, min_ms: 0.544, avg_ms: 203.708, max_ms: 923.368 }
        );
        assert_eq!((r.request_ack.sent, r.request_ack.received, r.request_ack.drops), (952, 800, 152));
        assert_eq!(r.request_ack.avg_ms, 167.260);
        assert!((r.drop_ratio() - 2198.0 / 3950.0).abs() < 1e-9);
        assert!((r.dora_latency_ms() - 370.968).abs() < 1e-9);
    }

    #[test]
    fn a_truncated_report_names_what_is_missing() {
        let cut = &SAMPLE[..SAMPLE.find("***Statistics for: REQUEST-ACK").unwrap()];
        assert_eq!(perfdhcp(cut).unwrap_err(), "no statistics for REQUEST-ACK");
        assert!(perfdhcp("perfdhcp: bad interface").unwrap_err().contains("Rate"));
    }

    #[test]
    fn reads_peak_memory() {
        let status = "Name:\tboot-service\nVmPeak:\t  300000 kB\nVmHWM:\t   24576 kB\nVmRSS:\t   20000 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(24576));
        assert_eq!(vm_hwm_kib("Name: x\n"), None);
        assert_eq!(meminfo_total_kib("MemTotal:       24567890 kB\nMemFree: 1 kB\n"), Some(24567890));
    }

    #[test]
    fn reads_the_parent_pid_past_an_awkward_name() {
        assert_eq!(stat_ppid("4242 (nginx) S 4241 4241 4241 0 -1 4194624 112 0"), Some(4241));
        assert_eq!(stat_ppid("77 (a) b (c) R 1 77 77 0"), Some(1));
        assert_eq!(stat_ppid("garbage"), None);
    }

    #[test]
    fn reads_the_cpu_time_of_every_thread() {
        // A real line of a multi-threaded kea-dhcp4: utime 1234, stime 567 (fields 14 and 15).
        let kea = "3141 (kea-dhcp4) S 3100 3141 3100 0 -1 4194560 2291 0 0 0 1234 567 0 0 20 0 5 0 98765 \
                   123456789 4321 18446744073709551615";
        assert_eq!(stat_cpu_ticks(kea), Some(1801));
        assert_eq!(stat_cpu_ticks("9 (a) b) R 1 9 9 0 -1 0 0 0 0 0 7 3 0 0"), Some(10), "a name with `)`");
        assert_eq!(stat_cpu_ticks("9 (short) R 1 9"), None);
    }

    #[test]
    fn the_files_a_script_fetches() {
        let ours = "#!ipxe\nkernel http://10.201.0.1/assets/vmlinuz initrd=initrd.img rackhand.token=x || goto failed\n\
                    initrd http://10.201.0.1/assets/initrd.img || goto failed\nboot || goto failed\n:failed\n\
                    echo kernel http://nowhere\n";
        assert_eq!(script_files(ours), ["http://10.201.0.1/assets/vmlinuz", "http://10.201.0.1/assets/initrd.img"]);
        assert_eq!(script_files("#!ipxe\nkernel --name k http://h/k quiet\nboot\n"), ["http://h/k"]);
        assert!(script_files("#!ipxe\nsanboot --drive 0x80\n").is_empty());
    }

    #[test]
    fn prometheus_sample_takes_the_series_named_exactly() {
        let text = "# TYPE rackhand_dhcp_replies counter\n\
                    rackhand_dhcp_replies_total{msg_type=\"offer\"} 812\n\
                    rackhand_dhcp_replies_total{msg_type=\"ack\"} 799\n\
                    rackhand_dhcp_replies_total{msg_type=\"ack\",x=\"y\"} 5\n";
        assert_eq!(prometheus_sample(text, "rackhand_dhcp_replies_total{msg_type=\"ack\"}"), Some(799.0));
        assert_eq!(prometheus_sample(text, "rackhand_dhcp_replies_total{msg_type=\"nak\"}"), None);
        assert_eq!(prometheus_sample(text, "rackhand_dhcp_replies"), None, "a prefix is not the series");
    }

    #[test]
    fn udp_receive_buffer_drops_are_read_by_name_from_snmp() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
            Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
            Udp: 92833 0 17 92802 28731 0 0 0 0\n\
            UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
            UdpLite: 0 0 0 0 5 0 0 0 0\n";
        assert_eq!(snmp_udp_rcvbuf_errors(snmp), Some(28731));
        assert_eq!(snmp_udp_rcvbuf_errors("Udp: InDatagrams\nUdp: 1\n"), None, "no such column");
        assert_eq!(snmp_udp_rcvbuf_errors(""), None);
    }
}
