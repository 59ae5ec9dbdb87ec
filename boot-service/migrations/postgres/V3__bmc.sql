-- A node's BMC: JSON of its address and login (`power::StoredBmc` in the boot service).
ALTER TABLE nodes ADD COLUMN bmc TEXT;
