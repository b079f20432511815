package sites

import "slices"

// Class is one of the situations a site shows (排查情形): the seed's five, split the way 附件2
// splits its columns, plus other. Several may apply to one site.
type Class string

// The classes (the same words as inspections.findings, migration 0011).
const (
	Unlicensed           Class = "unlicensed"             // 无证无照或证照不全
	BeyondLicence        Class = "beyond_licence"         // 超许可范围生产储存
	NonChemicalProducing Class = "non_chemical_producing" // 非化工企业未经许可生产
	ExitedProducing      Class = "exited_producing"       // 已退出企业非法违法生产
	AffiliatedLeased     Class = "affiliated_leased"      // 挂靠、租赁
	FactoryInFactory     Class = "factory_in_factory"     // 厂中厂
	OtherClass           Class = "other"                  // 其他违法违规行为
)

// Classes lists every class.
var Classes = []Class{Unlicensed, BeyondLicence, NonChemicalProducing, ExitedProducing, AffiliatedLeased,
	FactoryInFactory, OtherClass}

// Action is a disposal action (处置措施) of the seed's classified disposal (分类处置).
type Action string

// The actions.
const (
	SuspendRectify       Action = "suspend_rectify"       // 责令立即停产整顿
	ObtainPermits        Action = "obtain_permits"        // 限期依法办理相关手续
	VerifyDismantled     Action = "verify_dismantled"     // 核实生产装置已拆除
	SuspendProduction    Action = "suspend_production"    // 责令停产
	DismantleByDeadline  Action = "dismantle_by_deadline" // 限期拆除
	SealUp               Action = "seal_up"               // 查封非法生产装置及所在区域
	StopProduction       Action = "stop_production"       // 责令停止生产
	EliminateHazards     Action = "eliminate_hazards"     // 消除事故隐患
	Fine                 Action = "fine"                  // 罚款（从重、从严处罚），须填金额
	LandlordLiability    Action = "landlord_liability"    // 追究出租方责任
	JudicialTransfer     Action = "judicial_transfer"     // 移送司法机关
	PublicAccountability Action = "public_accountability" // 公开问责
	CreditListing        Action = "credit_listing"        // 纳入信用惩戒（联合惩戒）
)

// actionNames are the Chinese names of the actions, as the options show them.
var actionNames = map[Action]string{
	SuspendRectify: "责令立即停产整顿", ObtainPermits: "限期依法办理相关手续", VerifyDismantled: "核实生产装置已拆除",
	SuspendProduction: "责令停产", DismantleByDeadline: "限期拆除", SealUp: "查封非法生产装置及所在区域",
	StopProduction: "责令停止生产", EliminateHazards: "消除事故隐患", Fine: "罚款",
	LandlordLiability: "追究出租方责任", JudicialTransfer: "移送司法机关", PublicAccountability: "公开问责",
	CreditListing: "纳入信用惩戒",
}

// byClass is the disposal of each class (DESIGN.md, "Disposal classes"); forAll are the
// accountability actions every case may take.
var (
	byClass = map[Class][]Action{
		BeyondLicence:        {SuspendRectify, ObtainPermits},
		ExitedProducing:      {VerifyDismantled, SuspendProduction, DismantleByDeadline},
		NonChemicalProducing: {SuspendProduction, SealUp, DismantleByDeadline},
		Unlicensed:           {StopProduction, EliminateHazards},
		AffiliatedLeased:     {StopProduction, EliminateHazards},
		FactoryInFactory:     {StopProduction, EliminateHazards},
	}
	forAll = []Action{Fine, LandlordLiability, JudicialTransfer, PublicAccountability, CreditListing}
)

// Option is an action a site's classes call for.
type Option struct {
	Action Action  `json:"action"`
	Name   string  `json:"name"`   // Chinese name
	For    []Class `json:"for"`    // the site's classes that call for it (empty: every case)
	Amount bool    `json:"amount"` // needs an amount (fines)
}

// Options returns the actions the classes call for, class actions first, then the
// accountability actions that apply to every case.
func Options(classes []Class) []Option {
	var out []Option
	idx := map[Action]int{}
	for _, c := range Classes { // a stable order whatever the site's order
		if !slices.Contains(classes, c) {
			continue
		}
		for _, a := range byClass[c] {
			if i, ok := idx[a]; ok {
				out[i].For = append(out[i].For, c)
				continue
			}
			idx[a] = len(out)
			out = append(out, Option{Action: a, Name: actionNames[a], For: []Class{c}})
		}
	}
	for _, a := range forAll {
		out = append(out, Option{Action: a, Name: actionNames[a], For: []Class{}, Amount: a == Fine})
	}
	return out
}

// offered reports whether action a is among the options of classes.
func offered(classes []Class, a Action) bool {
	for _, o := range Options(classes) {
		if o.Action == a {
			return true
		}
	}
	return false
}

// Department is a department that acts on cases (联合执法部门, or the township itself).
type Department string

// The departments (the CHECK of users.department and site_actions.department, migration 0022).
const (
	PublicSecurity      Department = "public_security"      // 公安
	MarketRegulation    Department = "market_regulation"    // 市场监管
	EmergencyManagement Department = "emergency_management" // 应急管理
	EcologyEnvironment  Department = "ecology_environment"  // 生态环境
	Transport           Department = "transport"            // 交通运输
	Township            Department = "township"             // 乡镇（街道）
)

// Departments lists every department.
var Departments = []Department{PublicSecurity, MarketRegulation, EmergencyManagement, EcologyEnvironment,
	Transport, Township}

// departmentNames are the Chinese names of the departments.
var departmentNames = map[Department]string{
	PublicSecurity: "公安", MarketRegulation: "市场监管", EmergencyManagement: "应急管理",
	EcologyEnvironment: "生态环境", Transport: "交通运输", Township: "乡镇（街道）",
}

// Name is the action's Chinese name (the ledgers' 问题整改情况 writes it).
func (a Action) Name() string {
	if n, ok := actionNames[a]; ok {
		return n
	}
	return string(a)
}

// Name is the department's Chinese name.
func (d Department) Name() string {
	if n, ok := departmentNames[d]; ok {
		return n
	}
	return string(d)
}
