DROP TABLE webhook_receipts;
DROP FUNCTION webhook_receipts_notify();
