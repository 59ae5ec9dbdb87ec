//! Power supplies: the profile's count present, each receiving power and healthy. SMBIOS and BMC facts
//! are combined: either saying "no input power" is enough.

use hardware_profiles::PowerSpec;
use rackhand_api::{PowerSupply, Problem, PsuStatus, Source};

pub fn judge_power(psus: &[PowerSupply], spec: &PowerSpec) -> Vec<Problem> {
    if psus.is_empty() {
        // Neither SMBIOS nor a BMC reports supplies: say that, rather than "PSU n is missing" for each.
        let message = "no power supply is reported (no SMBIOS type 39 structures, no BMC sensors)";
        let fix = format!(
            "check by hand that all {} PSUs are seated and powered; if this model never reports them, set \
             power.all_powered = false in the profile",
            spec.supplies
        );
        return vec![if spec.all_powered {
            Problem::blocking("PSUs", message, fix)
        } else {
            Problem::warning("PSUs", message, fix)
        }];
    }
    let mut problems = Vec::new();
    for index in 1..=spec.supplies {
        let part = format!("PSU {index}");
        let feed = spec.feed_of(index);
        let Some(psu) = psus.iter().find(|p| p.index == index && p.present) else {
            let plug = feed.map_or(String::new(), |f| format!(" and plug it into the {f}-feed PDU"));
            problems.push(Problem::blocking(
                &part,
                format!("PSU {index} is missing"),
                format!("install a power supply in PSU slot {index}{plug}"),
            ));
            continue;
        };
        if let Some(problem) = judge_one(psu, &part, feed, spec.all_powered) {
            problems.push(problem);
        }
    }
    let extra = psus.iter().filter(|p| p.present && p.index > spec.supplies).count();
    if extra > 0 {
        problems.push(Problem::warning(
            "PSUs",
            format!("{extra} more power supplies than the profile's {}", spec.supplies),
            "leave them, or update the profile if this model has more supplies",
        ));
    }
    problems
}

/// At most one problem per supply: the most actionable one. Where SMBIOS and the BMC disagree about it,
/// the problem says so (either is enough to act on; the disagreement itself points at a sensor or a BMC).
fn judge_one(psu: &PowerSupply, part: &str, feed: Option<&str>, all_powered: bool) -> Option<Problem> {
    let index = psu.index;
    let from_smbios = psu.source == Source::Smbios;
    let input_lost = psu.bmc.as_ref().is_some_and(|b| b.input_lost);
    if !psu.powered || input_lost {
        let mut fix = match feed {
            Some(f) => format!("plug its cord into the {f}-feed PDU"),
            None => "plug its cord into a live PDU outlet".to_owned(),
        };
        let mut message = format!("PSU {index} present but not receiving power");
        if from_smbios && psu.bmc.is_some() && psu.powered == input_lost {
            let (lost, fine) = if input_lost { ("the BMC", "SMBIOS") } else { ("SMBIOS", "the BMC") };
            message += &format!(" according to {lost}, while {fine} reports it powered: the two disagree");
            fix += "; if its cord is in and its LED is green, the sensor that says otherwise is wrong: reset the \
                    BMC or update its firmware";
        }
        return Some(if all_powered {
            Problem::blocking(part, message, fix)
        } else {
            Problem::warning(part, message, fix)
        });
    }
    let bmc_failed = psu.bmc.as_ref().is_some_and(|b| b.failed);
    let status_failed = psu.status == PsuStatus::Critical;
    if status_failed || bmc_failed {
        let mut message = format!("PSU {index} reports a critical fault");
        if from_smbios && psu.bmc.is_some() && status_failed != bmc_failed {
            let (failed, fine) = if bmc_failed { ("the BMC", "SMBIOS") } else { ("SMBIOS", "the BMC") };
            message += &format!(" according to {failed}, while {fine} reports it healthy: the two disagree");
        }
        return Some(Problem::blocking(part, message, format!("replace PSU {index}")));
    }
    (psu.status == PsuStatus::NonCritical).then(|| {
        Problem::warning(
            part,
            format!("PSU {index} reports a non-critical fault"),
            format!("check PSU {index}'s status LED; reseat it, and replace it if the LED stays amber"),
        )
    })
}
