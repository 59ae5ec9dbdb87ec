//! Power supplies: SMBIOS type 39 structures, plus the BMC's sensors where there is one.

use std::path::Path;

use rackhand_api::{BmcPsuReading, PowerSupply, PsuStatus, Source};

use crate::observe::ipmi::{Bmc, bmc_present, psu_number};
use crate::observe::smbios::{self, PowerSupplyRecord, TYPE_POWER_SUPPLY};

/// Read the type 39 structures (per-entry files, else the whole DMI table), then the BMC when
/// `<root>/dev/ipmi0` exists.
pub fn observe_power_supplies(root: &Path, bmc: &dyn Bmc) -> Vec<PowerSupply> {
    let records = read_type39(root);
    let readings = if bmc_present(root) {
        bmc.power_supply_sensors().unwrap_or_else(|e| {
            tracing::warn!("BMC power-supply sensors unavailable: {e}");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    classify_power_supplies(&records, readings)
}

fn read_type39(root: &Path) -> Vec<PowerSupplyRecord> {
    let dir = root.join("sys/firmware/dmi/entries");
    let mut entries: Vec<(u32, String)> = super::sysfs::entries(&dir)
        .into_iter()
        .filter_map(|name| {
            let n = name.strip_prefix("39-")?.parse().ok()?;
            Some((n, name))
        })
        .collect();
    entries.sort();
    let from_entries: Vec<PowerSupplyRecord> = entries
        .iter()
        .filter_map(|(_, name)| std::fs::read(dir.join(name).join("raw")).ok())
        .filter_map(|raw| smbios::decode_type39(&raw).ok())
        .collect();
    if !from_entries.is_empty() {
        return from_entries;
    }
    let table = std::fs::read(root.join("sys/firmware/dmi/tables/DMI")).unwrap_or_default();
    smbios::structures(&table)
        .into_iter()
        .filter(|s| s[0] == TYPE_POWER_SUPPLY)
        .filter_map(|s| smbios::decode_type39(s).ok())
        .collect()
}

/// Number the supplies 1.. in SMBIOS order and attach each BMC sensor to its supply (by the number in
/// the sensor name, else by order). Without SMBIOS records, the BMC's sensors are the supplies.
pub fn classify_power_supplies(records: &[PowerSupplyRecord], readings: Vec<BmcPsuReading>) -> Vec<PowerSupply> {
    let mut psus: Vec<PowerSupply> = records
        .iter()
        .zip(1..)
        .map(|(rec, index)| PowerSupply {
            index,
            location: rec.location.clone(),
            name: rec.device_name.clone(),
            manufacturer: rec.manufacturer.clone(),
            serial: rec.serial.clone(),
            model: rec.model.clone(),
            max_power_watts: rec.max_power_watts.map(u32::from),
            present: rec.present(),
            powered: rec.present() && !rec.unplugged(),
            status: rec.status(),
            hot_replaceable: rec.hot_replaceable(),
            source: Source::Smbios,
            bmc: None,
        })
        .collect();
    for (reading, order) in readings.into_iter().zip(1..) {
        let index = psu_number(&reading.sensor).unwrap_or(order);
        match psus.iter_mut().find(|p| p.index == index) {
            Some(psu) => psu.bmc = Some(reading),
            None => psus.push(from_bmc_only(index, reading)),
        }
    }
    psus.sort_by_key(|p| p.index);
    psus
}

fn from_bmc_only(index: u32, reading: BmcPsuReading) -> PowerSupply {
    let status = match (reading.failed, reading.present) {
        (true, _) => PsuStatus::Critical,
        (false, true) => PsuStatus::Ok,
        (false, false) => PsuStatus::Unknown,
    };
    PowerSupply {
        index,
        location: None,
        name: Some(reading.sensor.clone()),
        manufacturer: None,
        serial: None,
        model: None,
        max_power_watts: None,
        present: reading.present,
        powered: reading.present && !reading.input_lost,
        status,
        hot_replaceable: false,
        source: Source::Ipmi,
        bmc: Some(reading),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::smbios::characteristics;

    fn sensor(name: &str, present: bool, input_lost: bool) -> BmcPsuReading {
        BmcPsuReading { sensor: name.into(), present, input_lost, failed: false, events: vec![] }
    }

    #[test]
    fn bmc_sensors_attach_by_number_and_keep_their_source() {
        let rec = |unplugged| PowerSupplyRecord {
            characteristics: characteristics(true, unplugged, PsuStatus::Ok, true),
            ..Default::default()
        };
        let psus = classify_power_supplies(&[rec(false), rec(true)], vec![sensor("PS2 Status", true, true)]);
        assert_eq!(psus.len(), 2);
        assert!(psus[0].powered && psus[0].bmc.is_none());
        assert!(!psus[1].powered);
        assert_eq!((psus[1].source, psus[1].bmc.as_ref().unwrap().input_lost), (Source::Smbios, true));
    }

    #[test]
    fn without_smbios_the_bmc_sensors_are_the_supplies() {
        let psus =
            classify_power_supplies(&[], vec![sensor("PS1 Status", true, false), sensor("PS2 Status", false, false)]);
        assert_eq!(
            psus.iter().map(|p| (p.index, p.present, p.source)).collect::<Vec<_>>(),
            [(1, true, Source::Ipmi), (2, false, Source::Ipmi)]
        );
        assert_eq!(psus[1].status, PsuStatus::Unknown);
    }
}
