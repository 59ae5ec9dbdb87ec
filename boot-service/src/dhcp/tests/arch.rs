//! Boot file by client architecture (option 93) and client kind: firmware PXE over TFTP, UEFI HTTP
//! boot, iPXE's script URL.

use super::*;

/// The OFFER a client of this kind gets in full mode.
fn offer_for(client: Client) -> (Outcome, Message) {
    let lab = Lab::new(DhcpMode::Full);
    let outcome = lab.ask(client);
    let offer = reply(&outcome);
    (outcome, offer)
}

fn assert_tftp_boot(offer: &Message, file: &str) {
    assert_eq!(bootfile(offer).as_deref(), Some(file));
    assert_eq!(offer.fname_str().and_then(Result::ok), Some(file));
    assert_eq!(offer.siaddr(), SERVER);
    assert_eq!(opt(offer, 66), Some(&DhcpOption::TFTPServerName(b"10.77.0.1".to_vec())));
    assert_eq!(opt(offer, 175), None);
    // What PXE firmware looks for in an offer it boots from (issue 12, point 8); 97 in `pxe.rs`.
    assert_eq!(vendor_class(offer), Some(&b"PXEClient"[..]));
    assert_eq!(raw_option(offer, 43).as_deref(), Some(&options::PXE_VENDOR_OPTIONS[..]));
}

#[test]
fn bios_pxe_gets_the_bios_file_over_tftp() {
    let (outcome, offer) = offer_for(Client::new(mac(1), MessageType::Discover).pxe(0));
    assert_tftp_boot(&offer, "undionly.kpxe");
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 77, 0, 100));
    assert_eq!(outcome.unknown_arch, None);
}

#[test]
fn busybox_udhcpc_pxe_emulation_is_recognised_as_bios_firmware() {
    // udhcpc -V PXEClient:Arch:00000:UNDI:002001 -x 0x5d:0000
    let client = Client::new(mac(1), MessageType::Discover)
        .vendor_class("PXEClient:Arch:00000:UNDI:002001")
        .opt(DhcpOption::Unknown(UnknownOption::new(OptionCode::Unknown(0x5d), vec![0, 0])));
    let request = client.build();
    assert_eq!(request.client.class, ClientClass::Pxe);
    assert_eq!(request.client.arch, Some(0));
    let lab = Lab::new(DhcpMode::Full);
    let offer = reply(&respond(&request, &lab.context(request.client.mac), &lab.table, NOW));
    assert_tftp_boot(&offer, "undionly.kpxe");
}

#[test]
fn arch_is_taken_from_the_vendor_class_when_option_93_is_missing() {
    let client = Client::new(mac(1), MessageType::Discover).vendor_class("PXEClient:Arch:00007:UNDI:003016");
    let (_, offer) = offer_for(client);
    assert_tftp_boot(&offer, "ipxe.efi");
}

#[test]
fn uefi_x64_arch_7_and_9_get_the_x64_efi_file() {
    for arch in [7, 9] {
        let (_, offer) = offer_for(Client::new(mac(1), MessageType::Discover).pxe(arch));
        assert_tftp_boot(&offer, "ipxe.efi");
    }
}

#[test]
fn arm64_uefi_gets_the_arm64_file() {
    let (_, offer) = offer_for(Client::new(mac(1), MessageType::Discover).pxe(11));
    assert_tftp_boot(&offer, "ipxe-arm64.efi");
}

#[test]
fn uefi_http_boot_gets_an_asset_url_and_httpclient_class() {
    for (arch, file) in [(16, "ipxe.efi"), (19, "ipxe-arm64.efi")] {
        let (_, offer) = offer_for(Client::new(mac(1), MessageType::Discover).http_boot(arch));
        let url = format!("http://10.77.0.1:8080/assets/{file}");
        assert_eq!(bootfile(&offer), Some(url.clone()), "arch {arch}");
        assert_eq!(offer.fname_str().and_then(Result::ok), Some(url.as_str()));
        assert_eq!(vendor_class(&offer), Some(&b"HTTPClient"[..]));
    }
}

#[test]
fn ipxe_gets_its_script_url_and_no_pxedhcp_option() {
    let (_, offer) = offer_for(Client::new([0x52, 0x54, 0, 0x12, 0x34, 0x56], MessageType::Discover).ipxe());
    assert_eq!(bootfile(&offer).as_deref(), Some("http://10.77.0.1:8080/boot/52-54-00-12-34-56.ipxe"));
    assert_eq!(raw_option(&offer, 175), Some(vec![176, 1, 1]));
    assert_eq!(opt(&offer, 66), Some(&DhcpOption::TFTPServerName(b"10.77.0.1".to_vec())));
}

#[test]
fn ipxe_is_recognised_by_option_175_alone() {
    let client = Client::new(mac(1), MessageType::Discover).opt(DhcpOption::Unknown(UnknownOption::new(
        OptionCode::Unknown(175),
        vec![177, 5, 1, 0x10, 0xec, 0x80, 0x00],
    )));
    let (_, offer) = offer_for(client);
    assert_eq!(bootfile(&offer).as_deref(), Some("http://10.77.0.1:8080/boot/52-54-00-aa-00-01.ipxe"));
}

#[test]
fn unknown_arch_gets_an_address_but_no_boot_file_and_is_counted() {
    for client in
        [Client::new(mac(1), MessageType::Discover).pxe(2), Client::new(mac(1), MessageType::Discover).http_boot(15)]
    {
        let (outcome, offer) = offer_for(client);
        assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 77, 0, 100));
        assert_eq!(bootfile(&offer), None);
        assert_eq!(offer.fname(), None);
        assert!(outcome.unknown_arch.is_some());
        assert_eq!(outcome.drop, None);
    }
}

#[test]
fn the_ack_carries_the_same_boot_file_as_the_offer() {
    let mut lab = Lab::new(DhcpMode::Full);
    lab.exchange(Client::new(mac(1), MessageType::Discover).pxe(9));
    let ack = lab.ask(
        Client::new(mac(1), MessageType::Request).pxe(9).requested(Ipv4Addr::new(10, 77, 0, 100)).server_id(SERVER),
    );
    assert_eq!(bootfile(&reply(&ack)).as_deref(), Some("ipxe.efi"));
}
