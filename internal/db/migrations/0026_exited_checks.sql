-- Exited-firm checks for 附件3 (issue 13, the part of issue 11 it needs).
--
-- A check of a firm of the exited-enterprise register (已退出企业排查) is an inspection of its
-- premise that answers 生产装置是否拆除 (equipment_removed) and 是否存在转产情况 (converted); its
-- remarks (备注) are the inspection's note. 附件3 also lists the people who took part in the
-- check (工作参与人员): the inspector, and those who went with them (the township's staff, the
-- departments' officers), who are not users of Sieve and so are named, not linked. The phone
-- sends them with the inspection (participants, optional); the ledger prints the inspector's
-- name followed by them.
ALTER TABLE inspections ADD COLUMN participants text[] NOT NULL DEFAULT '{}'
  CHECK (cardinality(participants) <= 20);
