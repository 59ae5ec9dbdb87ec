//! The chassis control program of the lab's BMCs: ipmi_sim runs it for power, reset and boot-device
//! commands, and it drives the server's QEMU over QMP. See `rackhand_lab::chassis`.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    rackhand_lab::chassis::main(&args)
}
