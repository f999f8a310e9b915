-- 0014: the glucose unit a patient reads, set by a clinician (tier-1 messages write every glucose
-- value and threshold in it: alerts.glucose_units). NULL, the default: the unit of the patient's
-- own glucose device (the original unit of their latest glucose reading), else their language's
-- (zh: mmol/L, en: mg/dL).
ALTER TABLE patients
    ADD COLUMN glucose_unit text CHECK (glucose_unit IN ('mg/dL', 'mmol/L'));
