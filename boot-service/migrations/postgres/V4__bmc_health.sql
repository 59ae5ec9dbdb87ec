-- What a ready node's BMC last said of its health: JSON of `rackhand_api::BmcHealth`.
ALTER TABLE nodes ADD COLUMN bmc_health TEXT;
