module close-recharge

go 1.26

require github.com/wechatpay-apiv3/wechatpay-go v0.2.21
