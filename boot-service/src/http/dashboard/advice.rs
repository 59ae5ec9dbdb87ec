//! What a technician does next about a failed server, after the problems and their fixes: the advice has
//! to fit the failure. A power-cycle retries every install, but it fixes nothing by itself: for a part
//! that needs fixing it comes after the fix, and for an image the boot service could not deliver intact
//! the fix is on the boot service, not at the server. The failed step (`FailedReport::step`) tells which.

use rackhand_api::{FailedReport, Severity};

/// The installer's step that streams and verifies the image.
const IMAGE_STEP: &str = "image";

/// The next step for a server that failed with `failure`.
pub fn retry_advice(failure: &FailedReport) -> &'static str {
    if failure.problems.iter().any(|p| p.severity == Severity::Blocking) {
        "Fixed it? Power-cycle the server: it network-boots and installs again."
    } else if failure.step.as_deref() == Some(IMAGE_STEP) {
        "Nothing to fix on the server: the image it was sent could not be installed. Publish a good image on \
         the boot service (or fix the network path to it), then power-cycle the server to install again."
    } else {
        "Once what the reason names is fixed, power-cycle the server: it network-boots and installs again."
    }
}

#[cfg(test)]
mod tests {
    use rackhand_api::Problem;

    use super::*;

    fn failure(reason: &str, severity: Option<Severity>) -> FailedReport {
        let problems = severity
            .map(|severity| Problem {
                severity,
                part: "PSU 2".into(),
                message: "PSU 2 present but not receiving power".into(),
                fix: "plug its cord into the B-feed PDU".into(),
            })
            .into_iter()
            .collect();
        FailedReport { reason: reason.into(), problems, built: None, step: None }
    }

    fn failed_step(step: &str, reason: &str, severity: Option<Severity>) -> FailedReport {
        FailedReport { step: Some(step.into()), ..failure(reason, severity) }
    }

    #[test]
    fn a_part_to_fix_comes_before_the_power_cycle() {
        let advice = retry_advice(&failure("1 blocking problem(s)", Some(Severity::Blocking)));
        assert!(advice.starts_with("Fixed it? Power-cycle"), "{advice}");
    }

    #[test]
    fn an_image_failure_is_fixed_on_the_boot_service_not_by_a_power_cycle() {
        let reason = "image: image http://10.77.0.1/images/debian-12/image: chunk 20 does not match the outboard";
        let advice = retry_advice(&failed_step("image", reason, None));
        assert!(advice.starts_with("Nothing to fix on the server"), "{advice}");
        assert!(advice.contains("Publish a good image on the boot service"), "{advice}");
        // A warning alone stopped nothing: the image is still what failed.
        assert_eq!(retry_advice(&failed_step("image", reason, Some(Severity::Warning))), advice);
        // The step decides, not the wording: another step's failure that mentions an image is not one.
        let other = retry_advice(&failed_step("boot", "image: grub-install failed", None));
        assert!(other.starts_with("Once what the reason names is fixed"), "{other}");
    }

    #[test]
    fn other_failures_name_their_own_fix_and_the_power_cycle_retries() {
        let reason = "the installed OS did not report within 10 min of the handover: check the boot order";
        let advice = retry_advice(&failure(reason, None));
        assert!(advice.starts_with("Once what the reason names is fixed"), "{advice}");
    }
}
