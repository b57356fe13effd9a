// Field and component names for the console's HL7 viewer (hover a field: `PID-5.1 Family name`).
// Names follow HL7 v2.5.1 chapter 2 (control segments and data types), chapter 3 (patient
// administration), chapter 4 (orders), chapter 4A (pharmacy), chapter 6 (financial), chapter 7
// (observations), chapter 9 (medical records) and chapter 10 (scheduling). Each field is
// `Name:DataType`; an entry's position is its sequence number (index 0 is unused).

type FieldTable = readonly string[];

const F = (...fields: string[]): FieldTable => ['', ...fields];

export const SEGMENT_NAMES: Readonly<Record<string, string>> = {
  MSH: 'Message Header',
  EVN: 'Event Type',
  PID: 'Patient Identification',
  PD1: 'Patient Additional Demographic',
  NK1: 'Next of Kin / Associated Parties',
  PV1: 'Patient Visit',
  PV2: 'Patient Visit - Additional Information',
  ORC: 'Common Order',
  OBR: 'Observation Request',
  OBX: 'Observation/Result',
  NTE: 'Notes and Comments',
  AL1: 'Patient Allergy Information',
  DG1: 'Diagnosis',
  PR1: 'Procedures',
  IN1: 'Insurance',
  TXA: 'Transcription Document Header',
  SCH: 'Scheduling Activity Information',
  AIS: 'Appointment Information',
  AIL: 'Appointment Information - Location Resource',
  AIP: 'Appointment Information - Personnel Resource',
  RXA: 'Pharmacy/Treatment Administration',
  RXR: 'Pharmacy/Treatment Route',
  SPM: 'Specimen',
  MRG: 'Merge Patient Information',
  MSA: 'Message Acknowledgment',
  ERR: 'Error',
};

export const FIELDS: Readonly<Record<string, FieldTable>> = {
  MSH: F(
    'Field Separator:ST', 'Encoding Characters:ST', 'Sending Application:HD', 'Sending Facility:HD', 'Receiving Application:HD', 'Receiving Facility:HD',
    'Date/Time of Message:TS', 'Security:ST', 'Message Type:MSG', 'Message Control ID:ST', 'Processing ID:PT', 'Version ID:VID', 'Sequence Number:NM',
    'Continuation Pointer:ST', 'Accept Acknowledgment Type:ID', 'Application Acknowledgment Type:ID', 'Country Code:ID', 'Character Set:ID',
    'Principal Language of Message:CE', 'Alternate Character Set Handling Scheme:ID', 'Message Profile Identifier:EI',
  ),
  EVN: F('Event Type Code:ID', 'Recorded Date/Time:TS', 'Date/Time Planned Event:TS', 'Event Reason Code:IS', 'Operator ID:XCN', 'Event Occurred:TS', 'Event Facility:HD'),
  PID: F(
    'Set ID - PID:SI', 'Patient ID:CX', 'Patient Identifier List:CX', 'Alternate Patient ID - PID:CX', 'Patient Name:XPN', "Mother's Maiden Name:XPN",
    'Date/Time of Birth:TS', 'Administrative Sex:IS', 'Patient Alias:XPN', 'Race:CE', 'Patient Address:XAD', 'County Code:IS', 'Phone Number - Home:XTN',
    'Phone Number - Business:XTN', 'Primary Language:CE', 'Marital Status:CE', 'Religion:CE', 'Patient Account Number:CX', 'SSN Number - Patient:ST',
    "Driver's License Number - Patient:DLN", "Mother's Identifier:CX", 'Ethnic Group:CE', 'Birth Place:ST', 'Multiple Birth Indicator:ID',
    'Birth Order:NM', 'Citizenship:CE', 'Veterans Military Status:CE', 'Nationality:CE', 'Patient Death Date and Time:TS', 'Patient Death Indicator:ID',
    'Identity Unknown Indicator:ID', 'Identity Reliability Code:IS', 'Last Update Date/Time:TS', 'Last Update Facility:HD', 'Species Code:CE',
    'Breed Code:CE', 'Strain:ST', 'Production Class Code:CE', 'Tribal Citizenship:CWE',
  ),
  PD1: F(
    'Living Dependency:IS', 'Living Arrangement:IS', 'Patient Primary Facility:XON', 'Patient Primary Care Provider Name & ID No.:XCN', 'Student Indicator:IS',
    'Handicap:IS', 'Living Will Code:IS', 'Organ Donor Code:IS', 'Separate Bill:ID', 'Duplicate Patient:CX', 'Publicity Code:CE', 'Protection Indicator:ID',
    'Protection Indicator Effective Date:DT', 'Place of Worship:XON', 'Advance Directive Code:CE', 'Immunization Registry Status:IS',
    'Immunization Registry Status Effective Date:DT', 'Publicity Code Effective Date:DT', 'Military Branch:IS', 'Military Rank/Grade:IS', 'Military Status:IS',
  ),
  NK1: F(
    'Set ID - NK1:SI', 'Name:XPN', 'Relationship:CE', 'Address:XAD', 'Phone Number:XTN', 'Business Phone Number:XTN', 'Contact Role:CE', 'Start Date:DT',
    'End Date:DT', 'Next of Kin / Associated Parties Job Title:ST', 'Next of Kin / Associated Parties Job Code/Class:JCC',
    'Next of Kin / Associated Parties Employee Number:CX', 'Organization Name - NK1:XON', 'Marital Status:CE', 'Administrative Sex:IS',
    'Date/Time of Birth:TS', 'Living Dependency:IS', 'Ambulatory Status:IS', 'Citizenship:CE', 'Primary Language:CE', 'Living Arrangement:IS',
    'Publicity Code:CE', 'Protection Indicator:ID', 'Student Indicator:IS', 'Religion:CE', "Mother's Maiden Name:XPN", 'Nationality:CE', 'Ethnic Group:CE',
    'Contact Reason:CE', "Contact Person's Name:XPN", "Contact Person's Telephone Number:XTN", "Contact Person's Address:XAD",
    'Next of Kin/Associated Party\'s Identifiers:CX', 'Job Status:IS', 'Race:CE', 'Handicap:IS', 'Contact Person Social Security Number:ST',
    'Next of Kin Birth Place:ST', 'VIP Indicator:IS',
  ),
  PV1: F(
    'Set ID - PV1:SI', 'Patient Class:IS', 'Assigned Patient Location:PL', 'Admission Type:IS', 'Preadmit Number:CX', 'Prior Patient Location:PL',
    'Attending Doctor:XCN', 'Referring Doctor:XCN', 'Consulting Doctor:XCN', 'Hospital Service:IS', 'Temporary Location:PL', 'Preadmit Test Indicator:IS',
    'Re-admission Indicator:IS', 'Admit Source:IS', 'Ambulatory Status:IS', 'VIP Indicator:IS', 'Admitting Doctor:XCN', 'Patient Type:IS', 'Visit Number:CX',
    'Financial Class:FC', 'Charge Price Indicator:IS', 'Courtesy Code:IS', 'Credit Rating:IS', 'Contract Code:IS', 'Contract Effective Date:DT',
    'Contract Amount:NM', 'Contract Period:NM', 'Interest Code:IS', 'Transfer to Bad Debt Code:IS', 'Transfer to Bad Debt Date:DT', 'Bad Debt Agency Code:IS',
    'Bad Debt Transfer Amount:NM', 'Bad Debt Recovery Amount:NM', 'Delete Account Indicator:IS', 'Delete Account Date:DT', 'Discharge Disposition:IS',
    'Discharged to Location:DLD', 'Diet Type:CE', 'Servicing Facility:IS', 'Bed Status:IS', 'Account Status:IS', 'Pending Location:PL',
    'Prior Temporary Location:PL', 'Admit Date/Time:TS', 'Discharge Date/Time:TS', 'Current Patient Balance:NM', 'Total Charges:NM',
    'Total Adjustments:NM', 'Total Payments:NM', 'Alternate Visit ID:CX', 'Visit Indicator:IS', 'Other Healthcare Provider:XCN',
  ),
  PV2: F(
    'Prior Pending Location:PL', 'Accommodation Code:CE', 'Admit Reason:CE', 'Transfer Reason:CE', 'Patient Valuables:ST', 'Patient Valuables Location:ST',
    'Visit User Code:IS', 'Expected Admit Date/Time:TS', 'Expected Discharge Date/Time:TS', 'Estimated Length of Inpatient Stay:NM',
    'Actual Length of Inpatient Stay:NM', 'Visit Description:ST', 'Referral Source Code:XCN', 'Previous Service Date:DT', 'Employment Illness Related Indicator:ID',
    'Purge Status Code:IS', 'Purge Status Date:DT', 'Special Program Code:IS', 'Retention Indicator:ID', 'Expected Number of Insurance Plans:NM',
    'Visit Publicity Code:IS', 'Visit Protection Indicator:ID', 'Clinic Organization Name:XON', 'Patient Status Code:IS', 'Visit Priority Code:IS',
    'Previous Treatment Date:DT', 'Expected Discharge Disposition:IS', 'Signature on File Date:DT', 'First Similar Illness Date:DT',
    'Patient Charge Adjustment Code:CE', 'Recurring Service Code:IS', 'Billing Media Code:ID', 'Expected Surgery Date and Time:TS',
    'Military Partnership Code:ID', 'Military Non-Availability Code:ID', 'Newborn Baby Indicator:ID', 'Baby Detained Indicator:ID',
    'Mode of Arrival Code:CE', 'Recreational Drug Use Code:CE', 'Admission Level of Care Code:CE', 'Precaution Code:CE', 'Patient Condition Code:CE',
    'Living Will Code:IS', 'Organ Donor Code:IS', 'Advance Directive Code:CE', 'Patient Status Effective Date:DT', 'Expected LOA Return Date/Time:TS',
    'Expected Pre-admission Testing Date/Time:TS', 'Notify Clergy Code:IS',
  ),
  ORC: F(
    'Order Control:ID', 'Placer Order Number:EI', 'Filler Order Number:EI', 'Placer Group Number:EI', 'Order Status:ID', 'Response Flag:ID',
    'Quantity/Timing:TQ', 'Parent:EIP', 'Date/Time of Transaction:TS', 'Entered By:XCN', 'Verified By:XCN', 'Ordering Provider:XCN',
    "Enterer's Location:PL", 'Call Back Phone Number:XTN', 'Order Effective Date/Time:TS', 'Order Control Code Reason:CE', 'Entering Organization:CE',
    'Entering Device:CE', 'Action By:XCN', 'Advanced Beneficiary Notice Code:CE', 'Ordering Facility Name:XON', 'Ordering Facility Address:XAD',
    'Ordering Facility Phone Number:XTN', 'Ordering Provider Address:XAD', 'Order Status Modifier:CWE', 'Advanced Beneficiary Notice Override Reason:CWE',
    "Filler's Expected Availability Date/Time:TS", 'Confidentiality Code:CWE', 'Order Type:CWE', 'Enterer Authorization Mode:CNE',
    'Parent Universal Service Identifier:CWE',
  ),
  OBR: F(
    'Set ID - OBR:SI', 'Placer Order Number:EI', 'Filler Order Number:EI', 'Universal Service Identifier:CE', 'Priority - OBR:ID',
    'Requested Date/Time:TS', 'Observation Date/Time:TS', 'Observation End Date/Time:TS', 'Collection Volume:CQ', 'Collector Identifier:XCN',
    'Specimen Action Code:ID', 'Danger Code:CE', 'Relevant Clinical Information:ST', 'Specimen Received Date/Time:TS', 'Specimen Source:SPS',
    'Ordering Provider:XCN', 'Order Callback Phone Number:XTN', "Placer Field 1:ST", 'Placer Field 2:ST', 'Filler Field 1:ST', 'Filler Field 2:ST',
    'Results Rpt/Status Chng - Date/Time:TS', 'Charge to Practice:MOC', 'Diagnostic Serv Sect ID:ID', 'Result Status:ID', 'Parent Result:PRL',
    'Quantity/Timing:TQ', 'Result Copies To:XCN', 'Parent:EIP', 'Transportation Mode:ID', 'Reason for Study:CE', 'Principal Result Interpreter:NDL',
    'Assistant Result Interpreter:NDL', 'Technician:NDL', 'Transcriptionist:NDL', 'Scheduled Date/Time:TS', 'Number of Sample Containers:NM',
    'Transport Logistics of Collected Sample:CE', "Collector's Comment:CE", 'Transport Arrangement Responsibility:CE', 'Transport Arranged:ID',
    'Escort Required:ID', 'Planned Patient Transport Comment:CE', 'Procedure Code:CE', 'Procedure Code Modifier:CE',
    'Placer Supplemental Service Information:CE', 'Filler Supplemental Service Information:CE', 'Medically Necessary Duplicate Procedure Reason:CWE',
    'Result Handling:IS', 'Parent Universal Service Identifier:CWE',
  ),
  OBX: F(
    'Set ID - OBX:SI', 'Value Type:ID', 'Observation Identifier:CE', 'Observation Sub-ID:ST', 'Observation Value:*', 'Units:CE', 'References Range:ST',
    'Abnormal Flags:IS', 'Probability:NM', 'Nature of Abnormal Test:ID', 'Observation Result Status:ID', 'Effective Date of Reference Range:TS',
    'User Defined Access Checks:ST', 'Date/Time of the Observation:TS', "Producer's ID:CE", 'Responsible Observer:XCN', 'Observation Method:CE',
    'Equipment Instance Identifier:EI', 'Date/Time of the Analysis:TS', 'Reserved for harmonization with V2.6 (20):*', 'Reserved (21):*', 'Reserved (22):*',
    'Performing Organization Name:XON', 'Performing Organization Address:XAD', 'Performing Organization Medical Director:XCN',
  ),
  NTE: F('Set ID - NTE:SI', 'Source of Comment:ID', 'Comment:FT', 'Comment Type:CE'),
  AL1: F('Set ID - AL1:SI', 'Allergen Type Code:CE', 'Allergen Code/Mnemonic/Description:CE', 'Allergy Severity Code:CE', 'Allergy Reaction Code:ST', 'Identification Date:DT'),
  DG1: F(
    'Set ID - DG1:SI', 'Diagnosis Coding Method:ID', 'Diagnosis Code - DG1:CE', 'Diagnosis Description:ST', 'Diagnosis Date/Time:TS', 'Diagnosis Type:IS',
    'Major Diagnostic Category:CE', 'Diagnostic Related Group:CE', 'DRG Approval Indicator:ID', 'DRG Grouper Review Code:IS', 'Outlier Type:CE',
    'Outlier Days:NM', 'Outlier Cost:CP', 'Grouper Version And Type:ST', 'Diagnosis Priority:ID', 'Diagnosing Clinician:XCN', 'Diagnosis Classification:IS',
    'Confidential Indicator:ID', 'Attestation Date/Time:TS', 'Diagnosis Identifier:EI', 'Diagnosis Action Code:ID',
  ),
  PR1: F(
    'Set ID - PR1:SI', 'Procedure Coding Method:IS', 'Procedure Code:CE', 'Procedure Description:ST', 'Procedure Date/Time:TS', 'Procedure Functional Type:IS',
    'Procedure Minutes:NM', 'Anesthesiologist:XCN', 'Anesthesia Code:IS', 'Anesthesia Minutes:NM', 'Surgeon:XCN', 'Procedure Practitioner:XCN',
    'Consent Code:CE', 'Procedure Priority:ID', 'Associated Diagnosis Code:CE', 'Procedure Code Modifier:CE', 'Procedure DRG Type:IS', 'Tissue Type Code:CE',
    'Procedure Identifier:EI', 'Procedure Action Code:ID',
  ),
  IN1: F(
    'Set ID - IN1:SI', 'Insurance Plan ID:CE', 'Insurance Company ID:CX', 'Insurance Company Name:XON', 'Insurance Company Address:XAD',
    'Insurance Co Contact Person:XPN', 'Insurance Co Phone Number:XTN', 'Group Number:ST', 'Group Name:XON', "Insured's Group Emp ID:CX",
    "Insured's Group Emp Name:XON", 'Plan Effective Date:DT', 'Plan Expiration Date:DT', 'Authorization Information:AUI', 'Plan Type:IS',
    'Name Of Insured:XPN', "Insured's Relationship To Patient:CE", "Insured's Date Of Birth:TS", "Insured's Address:XAD", 'Assignment Of Benefits:IS',
    'Coordination Of Benefits:IS', 'Coord Of Ben. Priority:ST', 'Notice Of Admission Flag:ID', 'Notice Of Admission Date:DT',
    'Report Of Eligibility Flag:ID', 'Report Of Eligibility Date:DT', 'Release Information Code:IS', 'Pre-Admit Cert (PAC):ST',
    'Verification Date/Time:TS', 'Verification By:XCN', 'Type Of Agreement Code:IS', 'Billing Status:IS', 'Lifetime Reserve Days:NM',
    'Delay Before L.R. Day:NM', 'Company Plan Code:IS', 'Policy Number:ST', 'Policy Deductible:CP', 'Policy Limit - Amount:CP', 'Policy Limit - Days:NM',
    'Room Rate - Semi-Private:CP', 'Room Rate - Private:CP', "Insured's Employment Status:CE", "Insured's Administrative Sex:IS",
    "Insured's Employer's Address:XAD", 'Verification Status:ST', 'Prior Insurance Plan ID:IS', 'Coverage Type:IS', 'Handicap:IS',
    "Insured's ID Number:CX", 'Signature Code:IS', 'Signature Code Date:DT', "Insured's Birth Place:ST", 'VIP Indicator:IS',
  ),
  TXA: F(
    'Set ID- TXA:SI', 'Document Type:IS', 'Document Content Presentation:ID', 'Activity Date/Time:TS', 'Primary Activity Provider Code/Name:XCN',
    'Origination Date/Time:TS', 'Transcription Date/Time:TS', 'Edit Date/Time:TS', 'Originator Code/Name:XCN', 'Assigned Document Authenticator:XCN',
    'Transcriptionist Code/Name:XCN', 'Unique Document Number:EI', 'Parent Document Number:EI', 'Placer Order Number:EI', 'Filler Order Number:EI',
    'Unique Document File Name:ST', 'Document Completion Status:ID', 'Document Confidentiality Status:ID', 'Document Availability Status:ID',
    'Document Storage Status:ID', 'Document Change Reason:ST', 'Authentication Person, Time Stamp:PPN', 'Distributed Copies:XCN',
  ),
  SCH: F(
    'Placer Appointment ID:EI', 'Filler Appointment ID:EI', 'Occurrence Number:NM', 'Placer Group Number:EI', 'Schedule ID:CE', 'Event Reason:CE',
    'Appointment Reason:CE', 'Appointment Type:CE', 'Appointment Duration:NM', 'Appointment Duration Units:CE', 'Appointment Timing Quantity:TQ',
    'Placer Contact Person:XCN', 'Placer Contact Phone Number:XTN', 'Placer Contact Address:XAD', 'Placer Contact Location:PL',
    'Filler Contact Person:XCN', 'Filler Contact Phone Number:XTN', 'Filler Contact Address:XAD', 'Filler Contact Location:PL',
    'Entered By Person:XCN', 'Entered By Phone Number:XTN', 'Entered By Location:PL', 'Parent Placer Appointment ID:EI',
    'Parent Filler Appointment ID:EI', 'Filler Status Code:CE', 'Placer Order Number:EI', 'Filler Order Number:EI',
  ),
  AIS: F(
    'Set ID - AIS:SI', 'Segment Action Code:ID', 'Universal Service Identifier:CE', 'Start Date/Time:TS', 'Start Date/Time Offset:NM',
    'Start Date/Time Offset Units:CE', 'Duration:NM', 'Duration Units:CE', 'Allow Substitution Code:IS', 'Filler Status Code:CE',
    'Placer Supplemental Service Information:CE', 'Filler Supplemental Service Information:CE',
  ),
  AIL: F(
    'Set ID - AIL:SI', 'Segment Action Code:ID', 'Location Resource ID:PL', 'Location Type-AIL:CE', 'Location Group:CE', 'Start Date/Time:TS',
    'Start Date/Time Offset:NM', 'Start Date/Time Offset Units:CE', 'Duration:NM', 'Duration Units:CE', 'Allow Substitution Code:IS', 'Filler Status Code:CE',
  ),
  AIP: F(
    'Set ID - AIP:SI', 'Segment Action Code:ID', 'Personnel Resource ID:XCN', 'Resource Type:CE', 'Resource Group:CE', 'Start Date/Time:TS',
    'Start Date/Time Offset:NM', 'Start Date/Time Offset Units:CE', 'Duration:NM', 'Duration Units:CE', 'Allow Substitution Code:IS', 'Filler Status Code:CE',
  ),
  RXA: F(
    'Give Sub-ID Counter:NM', 'Administration Sub-ID Counter:NM', 'Date/Time Start of Administration:TS', 'Date/Time End of Administration:TS',
    'Administered Code:CE', 'Administered Amount:NM', 'Administered Units:CE', 'Administered Dosage Form:CE', 'Administration Notes:CE',
    'Administering Provider:XCN', 'Administered-at Location:LA2', 'Administered Per (Time Unit):ST', 'Administered Strength:NM',
    'Administered Strength Units:CE', 'Substance Lot Number:ST', 'Substance Expiration Date:TS', 'Substance Manufacturer Name:CE',
    'Substance/Treatment Refusal Reason:CE', 'Indication:CE', 'Completion Status:ID', 'Action Code - RXA:ID', 'System Entry Date/Time:TS',
    'Administered Drug Strength Volume:NM', 'Administered Drug Strength Volume Units:CWE', 'Administered Barcode Identifier:CWE', 'Pharmacy Order Type:ID',
  ),
  RXR: F('Route:CE', 'Administration Site:CWE', 'Administration Device:CE', 'Administration Method:CWE', 'Routing Instruction:CE', 'Administration Site Modifier:CWE'),
  SPM: F(
    'Set ID - SPM:SI', 'Specimen ID:EIP', 'Specimen Parent IDs:EIP', 'Specimen Type:CWE', 'Specimen Type Modifier:CWE', 'Specimen Additives:CWE',
    'Specimen Collection Method:CWE', 'Specimen Source Site:CWE', 'Specimen Source Site Modifier:CWE', 'Specimen Collection Site:CWE',
    'Specimen Role:CWE', 'Specimen Collection Amount:CQ', 'Grouped Specimen Count:NM', 'Specimen Description:ST', 'Specimen Handling Code:CWE',
    'Specimen Risk Code:CWE', 'Specimen Collection Date/Time:DR', 'Specimen Received Date/Time:TS', 'Specimen Expiration Date/Time:TS',
    'Specimen Availability:ID', 'Specimen Reject Reason:CWE', 'Specimen Quality:CWE', 'Specimen Appropriateness:CWE', 'Specimen Condition:CWE',
    'Specimen Current Quantity:CQ', 'Number of Specimen Containers:NM', 'Container Type:CWE', 'Container Condition:CWE', 'Specimen Child Role:CWE',
  ),
  MRG: F(
    'Prior Patient Identifier List:CX', 'Prior Alternate Patient ID:CX', 'Prior Patient Account Number:CX', 'Prior Patient ID:CX', 'Prior Visit Number:CX',
    'Prior Alternate Visit ID:CX', 'Prior Patient Name:XPN',
  ),
  MSA: F('Acknowledgment Code:ID', 'Message Control ID:ST', 'Text Message:ST', 'Expected Sequence Number:NM', 'Delayed Acknowledgment Type:ID', 'Error Condition:CE'),
  ERR: F(
    'Error Code and Location:ELD', 'Error Location:ERL', 'HL7 Error Code:CWE', 'Severity:ID', 'Application Error Code:CWE', 'Application Error Parameter:ST',
    'Diagnostic Information:TX', 'User Message:TX', 'Inform Person Indicator:IS', 'Override Type:CWE', 'Override Reason Code:CWE', 'Help Desk Contact Point:XTN',
  ),
};

/** Component names of the composite data types used above (HL7 v2.5.1 ch. 2A). */
export const COMPONENTS: Readonly<Record<string, readonly string[]>> = {
  XPN: ['Family name', 'Given name', 'Second and further given names or initials thereof', 'Suffix', 'Prefix', 'Degree', 'Name type code', 'Name representation code', 'Name context', 'Name validity range', 'Name assembly order', 'Effective date', 'Expiration date', 'Professional suffix'],
  CX: ['ID number', 'Check digit', 'Check digit scheme', 'Assigning authority', 'Identifier type code', 'Assigning facility', 'Effective date', 'Expiration date', 'Assigning jurisdiction', 'Assigning agency or department'],
  XAD: ['Street address', 'Other designation', 'City', 'State or province', 'Zip or postal code', 'Country', 'Address type', 'Other geographic designation', 'County/parish code', 'Census tract', 'Address representation code', 'Address validity range', 'Effective date', 'Expiration date'],
  XCN: ['ID number', 'Family name', 'Given name', 'Second and further given names or initials thereof', 'Suffix', 'Prefix', 'Degree', 'Source table', 'Assigning authority', 'Name type code', 'Identifier check digit', 'Check digit scheme', 'Identifier type code', 'Assigning facility', 'Name representation code', 'Name context', 'Name validity range', 'Name assembly order', 'Effective date', 'Expiration date', 'Professional suffix', 'Assigning jurisdiction', 'Assigning agency or department'],
  XTN: ['Telephone number', 'Telecommunication use code', 'Telecommunication equipment type', 'Email address', 'Country code', 'Area/city code', 'Local number', 'Extension', 'Any text', 'Extension prefix', 'Speed dial code', 'Unformatted telephone number'],
  XON: ['Organization name', 'Organization name type code', 'ID number', 'Check digit', 'Check digit scheme', 'Assigning authority', 'Identifier type code', 'Assigning facility', 'Name representation code', 'Organization identifier'],
  HD: ['Namespace ID', 'Universal ID', 'Universal ID type'],
  EI: ['Entity identifier', 'Namespace ID', 'Universal ID', 'Universal ID type'],
  EIP: ['Placer assigned identifier', 'Filler assigned identifier'],
  CE: ['Identifier', 'Text', 'Name of coding system', 'Alternate identifier', 'Alternate text', 'Name of alternate coding system'],
  CWE: ['Identifier', 'Text', 'Name of coding system', 'Alternate identifier', 'Alternate text', 'Name of alternate coding system', 'Coding system version ID', 'Alternate coding system version ID', 'Original text'],
  CNE: ['Identifier', 'Text', 'Name of coding system', 'Alternate identifier', 'Alternate text', 'Name of alternate coding system', 'Coding system version ID', 'Alternate coding system version ID', 'Original text'],
  MSG: ['Message code', 'Trigger event', 'Message structure'],
  PT: ['Processing ID', 'Processing mode'],
  VID: ['Version ID', 'Internationalization code', 'International version ID'],
  TS: ['Time', 'Degree of precision'],
  PL: ['Point of care', 'Room', 'Bed', 'Facility', 'Location status', 'Person location type', 'Building', 'Floor', 'Location description', 'Comprehensive location identifier', 'Assigning authority for location'],
  FC: ['Financial class code', 'Effective date'],
  DLD: ['Discharge to location', 'Effective date'],
  CQ: ['Quantity', 'Units'],
  CP: ['Price', 'Price type', 'From value', 'To value', 'Range units', 'Range type'],
  DLN: ["License number", 'Issuing state, province, country', 'Expiration date'],
  NDL: ['Name', 'Start date/time', 'End date/time', 'Point of care', 'Room', 'Bed', 'Facility', 'Location status', 'Patient location type', 'Building', 'Floor'],
  PPN: ['ID number', 'Family name', 'Given name', 'Second and further given names or initials thereof', 'Suffix', 'Prefix', 'Degree', 'Source table', 'Assigning authority', 'Name type code', 'Identifier check digit', 'Check digit scheme', 'Identifier type code', 'Assigning facility', 'Date/time action performed'],
  DR: ['Range start date/time', 'Range end date/time'],
  SPS: ['Specimen source name or code', 'Additives', 'Specimen collection method', 'Body site', 'Site modifier', 'Collection method modifier code', 'Specimen role'],
  JCC: ['Job code', 'Job class', 'Job description text'],
  LA2: ['Point of care', 'Room', 'Bed', 'Facility', 'Location status', 'Patient location type', 'Building', 'Floor', 'Street address', 'Other designation', 'City', 'State or province', 'Zip or postal code', 'Country', 'Address type', 'Other geographic designation'],
  PRL: ['Parent observation identifier', 'Parent observation sub-identifier', 'Parent observation value descriptor'],
  TQ: ['Quantity', 'Interval', 'Duration', 'Start date/time', 'End date/time', 'Priority', 'Condition', 'Text', 'Conjunction', 'Order sequencing', 'Occurrence duration', 'Total occurrences'],
  AUI: ['Authorization number', 'Date', 'Source'],
  MOC: ['Monetary amount', 'Charge code'],
  ELD: ['Segment ID', 'Segment sequence', 'Field position', 'Code identifying error'],
  ERL: ['Segment ID', 'Segment sequence', 'Field position', 'Field repetition', 'Component number', 'Sub-component number'],
};

export interface FieldInfo {
  /** `PID-5` or `PID-5.1`. */
  readonly path: string;
  /** `Patient Name` or `Family name`; '' when unknown. */
  readonly name: string;
  readonly dataType: string;
}

/** Names one position. `field` is the HL7 sequence (MSH-1 is the field separator); component 1-based or undefined. */
export function describeField(segment: string, field: number, component?: number): FieldInfo {
  const entry = FIELDS[segment]?.[field];
  const [fieldName = '', dataType = ''] = entry === undefined ? [] : entry.split(':');
  const base = `${segment}-${field}`;
  if (component === undefined) return { path: base, name: fieldName, dataType };
  const componentName = COMPONENTS[dataType]?.[component - 1];
  // A primitive field has one component: its name is the field's.
  const name = componentName ?? (component === 1 ? fieldName : '');
  return { path: `${base}.${component}`, name, dataType };
}
