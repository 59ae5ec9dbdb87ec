//! Paths that leave the root, sent as literal bytes in an RRQ (a normalising client would strip the
//! `..` before sending), and links planted inside the root that point out of it: each gets an ERROR, and
//! no datagram carries the secret beside the root.

use std::net::Ipv4Addr;
use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;

const SECRET: &[u8] = b"admin_token = \"SECRET-tftp-traversal-0123456789\"\n";

/// `dir/config.toml` is the secret; `dir/root` is served, with links out of it planted inside.
fn planted(dir: &Path) {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("efi")).unwrap();
    std::fs::write(dir.join("config.toml"), SECRET).unwrap();
    std::fs::write(root.join("ok.bin"), b"served").unwrap();
    std::fs::write(root.join("efi/ipxe.efi"), b"ipxe").unwrap();
    symlink(dir.join("config.toml"), root.join("absolute")).unwrap();
    symlink("../config.toml", root.join("relative")).unwrap();
    symlink("../../config.toml", root.join("efi/up")).unwrap();
    symlink(dir, root.join("linked")).unwrap();
    symlink("..", root.join("parent")).unwrap();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first datagram the server sends back for an option-less RRQ of `path` (for a file that is the
/// first DATA block, which would carry the secret's opening bytes).
fn first_answer(server: &Server, path: &[u8]) -> Vec<u8> {
    let client = Client::on(Ipv4Addr::LOCALHOST);
    client.send(server.addr, &rrq(path, &[]));
    client.recv_raw().expect("the server did not answer").0
}

#[test]
fn traversal_and_planted_links_get_an_error_and_never_the_secret() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    planted(dir.path());
    // Caps well above the number of requests: a busy refusal must not pass for a path refusal.
    let config =
        TftpConfig { max_transfers: 256, max_transfers_per_source: 256, ..test_config(&dir.path().join("root")) };
    let server = Server::start(config);

    // The controls: files inside the root are served, so an ERROR below means a refusal.
    for (path, content) in [(&b"ok.bin"[..], &b"served"[..]), (b"/ok.bin", b"served"), (b"efi/ipxe.efi", b"ipxe")] {
        let answer = first_answer(&server, path);
        assert_eq!(answer[..4], [0, 3, 0, 1], "{}: {answer:?}", path.escape_ascii());
        assert_eq!(&answer[4..], content);
    }

    let absolute = dir.path().join("config.toml");
    let outside: Vec<&[u8]> = vec![
        b"../config.toml",
        b"/../config.toml",
        b"efi/../../config.toml",
        b"./../config.toml",
        b"efi/./../../config.toml",
        b"//../config.toml",
        b"..//config.toml",
        absolute.as_os_str().as_encoded_bytes(),
        b"absolute",
        b"relative",
        b"efi/up",
        b"linked/config.toml",
        b"parent/config.toml",
        b"/linked/config.toml",
        b"efi/../linked/config.toml",
    ];
    // Every path is tried, and every one that is answered with anything but an ERROR, or with the secret,
    // is named.
    let leaks: Vec<String> = outside
        .into_iter()
        .filter_map(|path| {
            let answer = first_answer(&server, path);
            let refused = answer.starts_with(&[0, 5])
                && !contains(&answer, b"busy")
                && !contains(&answer, b"SECRET-tftp-traversal");
            (!refused).then(|| format!("{}: {:?}", path.escape_ascii(), answer.escape_ascii().to_string()))
        })
        .collect();
    assert!(leaks.is_empty(), "not refused:\n{}", leaks.join("\n"));
    server.stop();
}
