"""The clinical sources the rule tables cite (DESIGN 10): one string per guideline. Pure data."""

from __future__ import annotations

ADA = "ADA Standards of Care in Diabetes 2024, section 6 (hypoglycaemia levels)"
BATTELINO = "Battelino et al., Diabetes Care 2019 (CGM targets; level-1 event: < 70 for >= 15 min)"
ACC_AHA = "Whelton et al., Hypertension 2018 (ACC/AHA): hypertensive crisis > 180/120, re-measure"
NHS_OXI = "NHS England, pulse oximetry to detect early deterioration at home (SpO2 <= 92 urgent)"
RCP = "Royal College of Physicians, NEWS2 (2017), chart 1 and clinical response table"
ESC_HF = "McDonagh et al., ESC heart-failure guidelines 2021: weight gain > 2 kg in 3 days"
ESH_HOME = "Stergiou et al., ESH 2021 home BP: hypertension at a home mean >= 135/85 mmHg"
NELLCOR = (
    "Nellcor SatSeconds alarm management (Medtronic): depth x duration below the SpO2 limit, so "
    "brief motion artefacts do not alarm; Taenzer et al., Anesthesiology 2010 (surveillance)"
)
BTS_O2 = "O'Driscoll et al., BTS emergency oxygen guideline 2017 (SpO2 < 88 % needs action)"
DEXCOM_ULS = "Dexcom G6/G7 'Urgent Low Soon': predicted <= 55 mg/dL within 20 min"
KALMAN = (
    "Facchinetti et al., IEEE TBME 2010 (online Kalman filtering of CGM); sensor error as in "
    "Breton & Kovatchev 2008 and Facchinetti et al. 2014; model in stream/kalman.py"
)
