//! The model beside what a check observed, per dialled address: where they disagree is a finding.
//! The configuration says `reachable` and the dial or handshake failed → the cause lies outside
//! what the VPC configuration shows (AWS Network Firewall, a firewall appliance, Route 53 Resolver
//! DNS Firewall, an on-premises proxy on the forwarded path), and the finding names the observed
//! phase; the configuration says `blocked` and the connection succeeded → the model is wrong or
//! incomplete (a rule or route it does not know). `unknown` compares with nothing.

use std::net::IpAddr;

use crate::dns::{AddressSource, Answer, DnsModel, SourcedAddress};
use crate::facts::NetworkFacts;
use crate::findings::{Finding, Severity};
use crate::service::ServiceKey;
use crate::verdict::{self, Verdict};

/// What a check saw for one address it dialled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub service: ServiceKey,
    pub host: String,
    pub port: u16,
    pub address: IpAddr,
    /// `None`: reached (TCP connected and, when tried, TLS completed). Else the phase that failed
    /// (`tcp`, `tls`), its outcome (`timeout`, `reset`) and the check's words for it.
    pub failure: Option<(String, String, String)>,
}

/// The findings where the model and the observation disagree.
pub fn compare(facts: &NetworkFacts, observed: &[Observation]) -> Vec<Finding> {
    let services: Vec<(ServiceKey, String, u16, DnsModel)> = observed
        .iter()
        .map(|o| {
            let dns = DnsModel {
                answer: Answer::Given,
                addresses: vec![SourcedAddress { address: o.address, source: AddressSource::Given, from: None }],
                detail: "dialled by the check".into(),
                unknown: None,
                resources: Vec::new(),
            };
            (o.service, o.host.clone(), o.port, dns)
        })
        .collect();
    let (results, _) = verdict::evaluate(facts, &services);
    let mut out: Vec<Finding> = Vec::new();
    for (o, r) in observed.iter().zip(&results) {
        let Some(a) = r.addresses.first() else { continue };
        let new = match (a.verdict, &o.failure) {
            (Verdict::Reachable, Some((phase, outcome, detail))) => Finding {
                id: "observation.outside_model".into(),
                severity: Severity::Warning,
                resources: Vec::new(),
                message: format!(
                    "the VPC configuration lets {} reach {} ({}), but the check's {phase} phase failed ({outcome}: {detail}): \
                     the cause lies outside what the configuration shows — AWS Network Firewall, a firewall appliance, \
                     Route 53 Resolver DNS Firewall, or a proxy on a forwarded path",
                    o.host, o.address, r.service
                ),
                remedy:
                    "check the firewalls and appliances on the path (Network Firewall rule groups, the appliance's \
                         logs, DNS Firewall rules) and the VPC flow logs for this address"
                        .into(),
                endpoints: vec![o.service],
                addresses: vec![o.address],
            },
            (Verdict::Blocked, None) => Finding {
                id: "observation.model_incomplete".into(),
                severity: Severity::Warning,
                resources: a.hops.iter().filter(|h| h.finding.is_some()).flat_map(|h| h.resources.clone()).collect(),
                message: format!(
                    "the check reached {} ({}), but the VPC configuration says blocked ({}): the model is wrong or \
                     incomplete (a rule, route or path it does not read)",
                    o.address,
                    o.host,
                    r.why.as_deref().unwrap_or("a hop blocks")
                ),
                remedy:
                    "report it with the diagnosis's JSON: the configuration as read and what the check saw disagree"
                        .into(),
                endpoints: vec![o.service],
                addresses: vec![o.address],
            },
            _ => continue,
        };
        match out.iter_mut().find(|f| f.id == new.id && f.endpoints == new.endpoints) {
            Some(f) => f.addresses.extend(new.addresses),
            None => out.push(new),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::facts::*;

    fn facts() -> NetworkFacts {
        let net = |s: &str| s.parse().unwrap();
        let all = |egress| NaclEntry {
            rule_number: 100,
            egress,
            protocol: Protocol::All,
            ports: None,
            cidr: net("0.0.0.0/0"),
            allow: true,
        };
        NetworkFacts {
            region: "eu-west-3".into(),
            eni: Some(Eni {
                id: "eni-1".into(),
                subnet_id: "subnet-1".into(),
                private_ipv4: Some("10.0.1.10".parse().unwrap()),
                security_group_ids: vec!["sg-1".into()],
                ..Eni::default()
            }),
            route_table: Some(RouteTable {
                id: "rtb-1".into(),
                main: false,
                routes: vec![
                    Route {
                        destination: Destination::Cidr(net("10.0.0.0/16")),
                        target: "local".into(),
                        blackhole: false,
                        propagated: false,
                    },
                    Route {
                        destination: Destination::Cidr(net("0.0.0.0/0")),
                        target: "igw-1".into(),
                        blackhole: false,
                        propagated: false,
                    },
                ],
            }),
            network_acl: Some(NetworkAcl { id: "acl-1".into(), default: true, entries: vec![all(true), all(false)] }),
            security_groups: vec![SecurityGroup {
                id: "sg-1".into(),
                name: "task".into(),
                ingress: vec![],
                egress: vec![SgRule { protocol: Protocol::All, ports: None, peer: Peer::Cidr(net("0.0.0.0/0")) }],
            }],
            ..NetworkFacts::default()
        }
    }

    fn seen(address: &str, failure: Option<(&str, &str)>) -> Observation {
        Observation {
            service: ServiceKey::Logs,
            host: "logs.eu-west-3.amazonaws.com".into(),
            port: 443,
            address: address.parse().unwrap(),
            failure: failure.map(|(p, o)| (p.to_owned(), o.to_owned(), format!("{p} {o}"))),
        }
    }

    #[test]
    fn reachable_by_the_configuration_and_failed_is_outside_the_model() {
        let mut f = facts();
        f.eni.as_mut().unwrap().public_ip = Some("15.236.1.1".parse().unwrap());
        let found = compare(&f, &[seen("35.180.1.2", Some(("tls", "timeout")))]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "observation.outside_model");
        assert!(found[0].message.contains("tls phase failed (timeout"), "{}", found[0].message);
        // Agreeing: reached and reachable, nothing to say.
        assert!(compare(&f, &[seen("35.180.1.2", None)]).is_empty());
    }

    #[test]
    fn blocked_by_the_configuration_and_reached_means_the_model_is_incomplete() {
        // No public IP behind an internet gateway: blocked by the model.
        let found = compare(&facts(), &[seen("35.180.1.2", None)]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "observation.model_incomplete");
        assert!(found[0].resources.contains(&"igw-1".to_owned()), "{:?}", found[0].resources);
        // Blocked and failed: they agree.
        assert!(compare(&facts(), &[seen("35.180.1.2", Some(("tcp", "timeout")))]).is_empty());
    }
}
