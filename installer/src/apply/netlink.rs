//! Links over rtnetlink, on a tokio current-thread runtime of its own: bring interfaces up, build the bond
//! (mode, miimon, primary; legs down while they are enslaved), delete a link.

use futures_lite::StreamExt;
use rtnetlink::packet_route::link::{BondMode, LinkAttribute};
use rtnetlink::{Handle, LinkBond, LinkUnspec};

use crate::plan::BondPlan;

use super::ApplyError;

fn err(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> ApplyError {
    let what = what.into();
    move |e| ApplyError::Netlink { what, message: e.to_string() }
}

/// Run `f` with a netlink handle on a fresh current-thread runtime.
fn with_handle<T>(f: impl AsyncFnOnce(Handle) -> Result<T, ApplyError>) -> Result<T, ApplyError> {
    let io = |e| ApplyError::Io { what: "starting the netlink runtime".into(), source: e };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build().map_err(io)?;
    runtime.block_on(async {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(io)?;
        let task = tokio::spawn(connection);
        let out = f(handle).await;
        task.abort();
        out
    })
}

async fn index_of(handle: &Handle, name: &str) -> Result<u32, ApplyError> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    match links.next().await {
        Some(Ok(link)) => Ok(link.header.index),
        Some(Err(e)) => Err(err(format!("finding interface {name}"))(e)),
        None => Err(ApplyError::Netlink { what: format!("finding interface {name}"), message: "no such link".into() }),
    }
}

async fn set(handle: &Handle, what: String, msg: rtnetlink::packet_route::link::LinkMessage) -> Result<(), ApplyError> {
    handle.link().set(msg).execute().await.map_err(err(what))
}

pub fn links_up(names: &[String]) -> Result<(), ApplyError> {
    with_handle(async |handle| {
        for name in names {
            let index = index_of(&handle, name).await?;
            set(&handle, format!("bringing {name} up"), LinkUnspec::new_with_index(index).up().build()).await?;
        }
        Ok(())
    })
}

/// All interface names the kernel has (to find physical NICs the caller filters by sysfs).
pub fn link_names() -> Result<Vec<String>, ApplyError> {
    with_handle(async |handle| {
        let mut names = Vec::new();
        let mut links = handle.link().get().execute();
        while let Some(link) = links.next().await {
            let link = link.map_err(err("listing interfaces"))?;
            names.extend(link.attributes.into_iter().filter_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n),
                _ => None,
            }));
        }
        Ok(names)
    })
}

pub fn create_bond(plan: &BondPlan) -> Result<(), ApplyError> {
    let mode = match plan.mode {
        hardware_profiles::BondMode::ActiveBackup => BondMode::ActiveBackup,
        hardware_profiles::BondMode::Lacp => BondMode::Ieee8023Ad,
        hardware_profiles::BondMode::BalanceAlb => BondMode::BalanceAlb,
    };
    with_handle(async |handle| {
        let bond = &plan.name;
        let mut builder = LinkBond::new(bond).mode(mode).miimon(plan.miimon_ms);
        if let Some(primary) = &plan.primary {
            // The kernel keeps the primary by name and applies it when that leg is enslaved.
            builder = builder.primary(index_of(&handle, primary).await?);
        }
        handle.link().add(builder.build()).execute().await.map_err(err(format!("creating {bond}")))?;
        let bond_index = index_of(&handle, bond).await?;
        for leg in &plan.legs {
            let index = index_of(&handle, leg).await?;
            set(&handle, format!("taking {leg} down to enslave it"), LinkUnspec::new_with_index(index).down().build())
                .await?;
            let enslave = LinkUnspec::new_with_index(index).controller(bond_index).build();
            set(&handle, format!("enslaving {leg} to {bond}"), enslave).await?;
            set(&handle, format!("bringing {leg} up"), LinkUnspec::new_with_index(index).up().build()).await?;
        }
        set(&handle, format!("bringing {bond} up"), LinkUnspec::new_with_index(bond_index).up().build()).await
    })
}

pub fn delete_link(name: &str) -> Result<(), ApplyError> {
    with_handle(async |handle| {
        let index = index_of(&handle, name).await?;
        handle.link().del(index).execute().await.map_err(err(format!("deleting {name}")))
    })
}
